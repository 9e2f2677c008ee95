import { compileSchema } from '../problems';
import { DOCUMENT_SCHEMA } from './document-schema';

/**
 * The streams document's validator, compiled on first use. The program's bundle replaces this
 * module with the same validator compiled ahead of time (scripts/bundle.js), so a run compiles
 * no schema and ships no compiler.
 */
export const validateDocument = compileSchema(DOCUMENT_SCHEMA);
