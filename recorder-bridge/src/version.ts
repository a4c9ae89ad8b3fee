/** Set from package.json by scripts/build.mjs (esbuild `define`). */
declare const __REWIND_VERSION__: string;

export const REWIND_VERSION: string = __REWIND_VERSION__;
