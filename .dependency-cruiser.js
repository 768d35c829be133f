/**
 * The import rules of docs/architecture.md, checked in CI (`npm run lint:imports`). Layers
 * import one way, core ← infra ← services ← api, the composition root (src/wiring, server.ts)
 * assembles them, and no module of src takes part in an import cycle. Type-only imports count:
 * a cycle of types is still two modules that cannot be understood (or moved) one at a time.
 */
const GATEWAY_BUDGETS = '^src/api/(gateway/rate-limit|graphql/budget)\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules of src import each other in a cycle: one of them must give up its import (move the shared part down a layer).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-imports-nothing',
      severity: 'error',
      comment: 'core imports nothing of ours.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'infra-imports-core-only',
      severity: 'error',
      comment: 'infra adapters import core only (and each other).',
      from: { path: '^src/infra/' },
      to: { path: '^src/', pathNot: '^src/(core|infra)/' },
    },
    {
      name: 'services-import-core-infra-services',
      severity: 'error',
      comment: 'Services import core, infra and other services; never a transport (api), the CLI, or the composition root.',
      from: { path: '^src/services/' },
      to: { path: '^src/', pathNot: '^src/(core|infra|services)/' },
    },
    {
      name: 'services-no-web-frameworks',
      severity: 'error',
      comment: 'Services never import Fastify or GraphQL (DESIGN §3).',
      from: { path: '^src/services/' },
      to: { path: '^node_modules/(fastify|@fastify/|mercurius|graphql|graphql-ws)' },
    },
    {
      name: 'api-no-infra-adapters',
      severity: 'error',
      comment: "api never touches a database, cache or queue adapter; its one crossing is infra/telemetry's Logger and Metrics types (docs/architecture.md).",
      from: { path: '^src/api/', pathNot: GATEWAY_BUDGETS },
      to: { path: '^src/infra/', pathNot: '^src/infra/telemetry/' },
    },
    {
      name: 'api-gateway-budgets-rate-limit-port-only',
      severity: 'error',
      // The gateway stage charges request budgets through the rate-limit port (Charge, Limiter,
      // RateLimitStoreUnavailable): a deliberate crossing, documented in docs/architecture.md.
      comment: 'The gateway budgets may use the rate-limit port, and no other adapter.',
      from: { path: GATEWAY_BUDGETS },
      to: { path: '^src/infra/', pathNot: '^src/infra/(telemetry/|rate-limit/index\\.ts$)' },
    },
    {
      name: 'api-telemetry-types-only',
      severity: 'error',
      comment: 'What api takes from infra/telemetry are types; the instances are made by the composition root.',
      from: { path: '^src/api/' },
      to: { path: '^src/infra/telemetry/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'api-no-wiring-cli',
      severity: 'error',
      comment: 'Transports are handed their services; they never assemble them (wiring, server.ts) or reach into the CLI.',
      from: { path: '^src/api/' },
      to: { path: '^src/(wiring/|cli/|server\\.ts|main\\.ts)' },
    },
    {
      name: 'wiring-not-imported-by-layers',
      severity: 'error',
      comment: 'The composition root is imported by server.ts and the CLI only.',
      from: { path: '^src/(core|infra|services|api)/' },
      to: { path: '^src/wiring/' },
    },
    {
      name: 'cli-no-api',
      severity: 'error',
      comment: 'The CLI runs and administers a server: it goes through server.ts, wiring and services, never a transport directly.',
      from: { path: '^src/cli/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      comment: 'The CLI is an entry point: only main.ts (npm start = pcf serve) starts it.',
      from: { path: '^src/', pathNot: '^src/(cli/|main\\.ts)' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'clients-import-no-server-code',
      severity: 'error',
      comment: 'Clients (sdk/, web/) import no server code (DESIGN §11).',
      from: { path: '^(sdk|web)/' },
      to: { path: '^src/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too (see the comment at the top).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
