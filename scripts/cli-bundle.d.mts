// Types of cli-bundle.mjs (plain JavaScript: the launcher imports it before any loader).
/** A fingerprint of the sources and settings the command line's bundle is made from (12 hex digits). */
export function sourceFingerprint(): string;
/** The CLI module: from the bundle when there is one, else through the TypeScript loader. */
export function loadCli(): Promise<{ main(argv: string[]): Promise<number> }>;
