export { type LoadOptions, loadConfig } from './load.ts';
export * from './schema.ts';
