/** The reference portrait: from an ID document photo or a chip portrait to an in-memory template. */
export * from './portrait.js';
export * from './source.js';
