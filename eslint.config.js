// Lint rules: typescript-eslint's type-aware recommended set, plus the house rules
// that matter most in a streaming service (no floating promises, no console in services).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // The Kafka port (shared/src/kafka-port.ts) is what everything else talks to: only the adapter
    // imports the client library.
    files: ['**/*.{ts,tsx,js,mjs}'],
    ignores: ['shared/src/kafka-client.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@platformatic/kafka', '@platformatic/kafka/*', 'kafkajs', 'kafkajs/*'],
              message:
                'Kafka is reached through the port (@tradewatch/shared/kafka-port); only shared/src/kafka-client.ts imports the client library.',
            },
          ],
        },
      ],
    },
  },
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
