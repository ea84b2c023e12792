pub mod common;
pub mod google;
pub mod outlook;
