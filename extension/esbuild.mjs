// Bundles the extension (out/extension.js) or the tests (out/test/*.test.js: `npm test`;
// out/test/*.real.js: run by the end-to-end tests with real parts).
//   node esbuild.mjs [--production] [--watch] [--tests]
import * as esbuild from 'esbuild';
import { mkdirSync, readdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests');

const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    external: ['vscode'],
};

const options = tests
    ? {
          ...common,
          entryPoints: readdirSync('test')
              .filter((f) => f.endsWith('.test.ts') || f.endsWith('.real.ts'))
              .map((f) => `test/${f}`),
          outdir: 'out/test',
          sourcemap: 'inline',
          // The vscode layer's unit tests run against a small stub of the API.
          alias: { vscode: './test/stubs/vscode.ts' },
          external: [],
      }
    : {
          ...common,
          entryPoints: ['src/extension.ts'],
          outfile: 'out/extension.js',
      };

if (production) {
    mkdirSync('dist', { recursive: true });
}

if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
} else {
    await esbuild.build(options);
}
