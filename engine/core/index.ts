/** The protocol core: pure state machines, no I/O. See docs/PROTOCOL.md. */
export * from './config.ts';
export * from './errors.ts';
export * from './messages.ts';
export * from './output-gate.ts';
export * from './primary-core.ts';
export * from './primary-types.ts';
export * from './secondary-core.ts';
export * from './secondary-types.ts';
export * from './receive-window.ts';
export * from './lease-state.ts';
export { fnv1a64, type ChunkHash } from './chunk-hash.ts';
