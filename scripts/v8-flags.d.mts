// Types of v8-flags.mjs (plain JavaScript, so that the launcher can import it before any loader).
/** The V8 flags `twinstep COMMAND` runs with. */
export function v8FlagsFor(command: string): string[];
/** Sets them in this process (before any guest is compiled: a module compiled earlier keeps how it was compiled). */
export function applyV8Flags(command: string): void;
