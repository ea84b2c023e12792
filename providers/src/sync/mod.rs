//! The provider-neutral sync core: the shape a provider holds a series in (`model`), the pure
//! translation between it and Almanac's series (`mapping`), and the engine that pushes and pulls
//! through a provider adapter and the ports the application implements (`engine`), and the stored,
//! versioned fingerprints it decides with (`fingerprint`).

pub mod engine;
pub mod fingerprint;
pub mod mapping;
pub mod model;
