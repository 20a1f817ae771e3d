// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of src/, lowest first: a folder imports only from folders on lower floors (and its own).
// Checked here so that an import that runs back up fails the lint.
const FLOORS = [
  ['common'],
  ['config', 'runtime'],
  ['forwarding', 'workspace', 'devcontainer'],
  ['control'],
  ['daemon'],
  ['operations'],
  ['cli'],
];
const layerRules = FLOORS.flatMap((floor, level) => {
  const higherOrBeside = FLOORS.flatMap((other, otherLevel) => (otherLevel >= level ? other : []));
  return floor.map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: higherOrBeside
            .filter((other) => other !== folder)
            .map((other) => ({
              group: [`**/${other}/*`, `**/${other}/**/*`],
              message: `src/${folder} imports only from lower floors (FLOORS in eslint.config.js), not from src/${other}: move what it needs down, or the code up.`,
            })),
        },
      ],
    },
  }));
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  ...layerRules,
);
