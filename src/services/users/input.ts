// services/resources still imports FieldProblems from here; its owner moves that import to
// ../shared/input.js, and this file goes.
export { FieldProblems } from '../shared/input.js';
