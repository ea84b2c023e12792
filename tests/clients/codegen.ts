// GraphQL Code Generator: TypeScript types for the example operations, from the committed schema.
// Run by tests/tests/npm_clients.rs (`npx graphql-codegen`), then checked with `tsc --noEmit`.
//
// `typescript` writes every schema type to generated/schema.ts; `typescript-operations` (v6:
// standalone, so it goes to its own file) writes the operation, variables and fragment types to
// generated/operations.ts and imports the schema's enums and inputs from generated/schema.ts.
import type { CodegenConfig } from "@graphql-codegen/cli";

const shared = {
  // Every custom scalar must be mapped: a new scalar without a mapping fails generation.
  strictScalars: true,
  scalars: {
    DateTime: "string",
    LocalDateTime: "string",
    LocalTime: "string",
  },
  enumsAsTypes: true,
  useTypeImports: true,
};

const config: CodegenConfig = {
  // ALMANAC_SCHEMA: another schema file (the Rust test uses it for its negative control).
  schema: process.env.ALMANAC_SCHEMA ?? "../../schema.graphql",
  documents: ["operations/*.graphql"],
  overwrite: true,
  generates: {
    "generated/schema.ts": {
      plugins: ["typescript"],
      config: shared,
    },
    "generated/operations.ts": {
      plugins: ["typescript-operations"],
      config: {
        ...shared,
        importSchemaTypesFrom: "./generated/schema.ts",
      },
    },
  },
};

export default config;
