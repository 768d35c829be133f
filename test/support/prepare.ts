// Runs before `npm test` (pretest): builds the PGlite template once, so parallel test files
// do not each pay for it.
import { buildPgliteTemplate } from './template.js';

await buildPgliteTemplate();
