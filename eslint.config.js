// ESLint for keel: a deliberately small, type-aware rule set. tsc (strict, see
// tsconfig.json) already catches most mistakes; each rule below catches a class
// of bug tsc does not, or enforces a layering rule of /work/shared/notes/style.md.
// Formatting is Prettier's job (.prettierrc.json), so no stylistic rules here.
import tseslint from 'typescript-eslint';

const shippedOnly = {
  group: ['**/test/*', '**/bench/*', '**/testing/*'],
  message: 'shipped code never imports tests, benchmarks or testing/ fakes (tsconfig.build.json leaves those out of dist/).',
};
const cliOnly = { group: ['**/cli/*'], message: 'only src/cli imports the command line (layering, see ARCHITECTURE.md).' };
const compositionOnly = {
  group: ['**/agent/*', '**/sandbox/*'],
  message: 'agent/ and sandbox/ compose the layers below them; nothing below imports them (see ARCHITECTURE.md).',
};

export default tseslint.config(
  {
    ignores: ['dist/**', 'dist-dev/**', 'node_modules/**', 'bench/results/**', '.keel/**', 'reports/**', '.stryker-tmp/**'],
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its rejection: in a long-running agent that is a
      // sync failure nobody logs or counts. Deliberate fire-and-forget is written `void p`.
      '@typescript-eslint/no-floating-promises': 'error',
      // An async function passed where a void callback is expected (event handlers,
      // timers, Array#forEach) has its rejection dropped by the caller; a promise used
      // as a condition is always truthy.
      '@typescript-eslint/no-misused-promises': 'error',
      // `await` on a value that is not a promise means the author believed something
      // about the callee that is not true (e.g. a sync port mistaken for an async one).
      '@typescript-eslint/await-thenable': 'error',
      // Errors are typed and carry their subject (style.md §10): throwing a string or a
      // plain object loses the stack, the code and the `instanceof` guards.
      '@typescript-eslint/only-throw-error': 'error',
      // Type-only imports are erased, so importing a module for its types never runs
      // its side effects (metric registration, worker start-up) nor creates a runtime
      // import cycle. Both `import type { X }` and `import { type X }` are accepted.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // No dead code (project rule): unused locals, parameters after the last used one,
      // and caught errors that are ignored. `_name` marks a deliberately unused binding.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `any` switches the checker off for everything it touches; `unknown` plus a check
      // (or one narrow cast at the edge) keeps strict mode honest. Test builders that
      // mutate free-form manifests mark their one `any` in place.
      '@typescript-eslint/no-explicit-any': 'error',
      // keel uses string unions instead of enums (style.md §12): a new member (a proxy
      // mode, a backend, a record type) must be handled in every switch over the union.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  // Layering: no import runs up a layer. cli/ is the command line, agent/ the one
  // composition root, sandbox/ the development cluster around agents; the layers
  // below (api, store, watch, ipam, the programmers, overlay, dns, kernel) never
  // reach up to them. Shipped code never imports tests, benchmarks or testing/
  // fakes. A later block replaces an earlier one's list for the files it matches.
  restrictImports(['src/**/*.ts'], [shippedOnly]),
  restrictImports(['src/**/*.ts'], [shippedOnly, cliOnly], ['src/cli/**']),
  restrictImports(['src/**/*.ts'], [shippedOnly, cliOnly, compositionOnly], ['src/cli/**', 'src/agent/**', 'src/sandbox/**']),
);

function restrictImports(files, patterns, ignores = []) {
  return {
    files,
    ignores: [...ignores, 'src/**/*.test.ts', 'src/**/testing/**'],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
}
