import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Resolve the `@broker/*` aliases from tsconfig.base.json so tests and the TypeScript
// compiler agree on one map of the workspace.
const base = JSON.parse(readFileSync(new URL('./tsconfig.base.json', import.meta.url), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};
// Exact matches, so '@broker/store' does not swallow '@broker/store/testing'.
const alias = Object.entries(base.compilerOptions.paths).map(([name, [target]]) => ({
  find: new RegExp(`^${name.replace(/[/.-]/g, '\\$&')}$`),
  replacement: fileURLToPath(new URL(`./${target ?? ''}`, import.meta.url)),
}));

export default defineConfig({
  resolve: { alias },
  test: {
    environment: 'node',
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
