// Lint rules: typescript-eslint's type-aware recommended set, plus the house rules
// that matter most in a streaming service (no floating promises, no console in services).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Client libraries and the files (the adapter) that may import each.
const CLIENT_LIBRARIES = [
  {
    adapter: 'shared/src/kafka/*.ts',
    group: ['@platformatic/kafka', '@platformatic/kafka/*', 'kafkajs', 'kafkajs/*'],
    message:
      'Kafka is reached through the port (@tradewatch/shared/kafka-port); only the files of shared/src/kafka/ import the client library.',
  },
  {
    adapter: 'services/gateway/src/redis.ts',
    group: ['ioredis', 'ioredis/*'],
    message:
      "Redis is the gateway's, reached through services/gateway/src/redis.ts; only it imports ioredis.",
  },
  {
    adapter: 'shared/src/clickhouse.ts',
    group: ['@clickhouse/client', '@clickhouse/client/*'],
    message:
      'ClickHouse is reached through @tradewatch/shared/clickhouse; only shared/src/clickhouse.ts imports the client.',
  },
];
const SERVICES = ['gateway', 'processor', 'sink', 'dashboard', 'simulator'];

/** A service's files may not import another service's (what they share lives in shared/). */
const otherServices = (service) =>
  SERVICES.filter((s) => s !== service).map((other) => ({
    group: [`**/${other}/src/**`, `**/${other}/test/**`, `**/services/${other}/**`, `@tradewatch/${other}`],
    message: `Services never import each other: ${service} may not import ${other}; what both need belongs in shared/.`,
  }));

const libraries = (except) =>
  CLIENT_LIBRARIES.filter((l) => l !== except).map(({ group, message }) => ({ group, message }));

const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

const importBoundaries = () => [
  { files: ['**/*.{ts,tsx,js,mjs}'], rules: restrict(libraries()) },
  ...SERVICES.map((service) => ({
    files: [`services/${service}/**/*.{ts,tsx,js,mjs}`],
    rules: restrict([...libraries(), ...otherServices(service)]),
  })),
  ...CLIENT_LIBRARIES.map((lib) => {
    const service = /^services\/([^/]+)\//.exec(lib.adapter)?.[1];
    return {
      files: [lib.adapter],
      rules: restrict([...libraries(lib), ...(service === undefined ? [] : otherServices(service))]),
    };
  }),
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      'bench/results/**',
      '**/*.cjs',
      'services/dashboard/dist/**',
      'packages/*/dist/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test reports a test's failure itself; awaiting test() would serialise the file.
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      // Libraries type some callback properties as methods; they are not.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['services/*/src/**/*.ts', 'shared/src/**/*.ts', 'packages/*/src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  // Who may import what: services never import each other, and only the adapters import the
  // client libraries. The blocks go from general to specific (a later block's rule replaces an
  // earlier one's for the files it matches).
  ...importBoundaries(),
  {
    // The desk's browser UI has a tsconfig of its own (DOM, JSX, bundler resolution); its DOM lib
    // declares the browser globals, and TypeScript, not no-undef, checks identifiers.
    files: ['services/dashboard/web/**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: './services/dashboard/web/tsconfig.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: { 'no-console': 'error' },
  },
  {
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
