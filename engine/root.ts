/**
 * The repository's root, for the few files the engine starts by path (the helper threads' boot modules, the
 * Binaryen child). Computed from this module's own place, one directory below the root: that holds for the
 * sources and for the bundle of the command line (.bundle/, made by scripts/cli-bundle.mjs, also one level
 * down), where every module shares the bundle's import.meta.url.
 */
export const ROOT_URL = new URL('../', import.meta.url);
