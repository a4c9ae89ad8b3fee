// The package's runtime entry: the build transpiles every TypeScript file into out/ (tests and tools
// run from there), so this points at that copy; esbuild bundles src/index.ts directly ("source").
module.exports = require('../out/language-server/src/index.js');
