import pkg from '../../package.json';

export const REWIND_VERSION: string = pkg.version;
