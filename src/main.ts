/**
 * `npm start`: the same as `pcf serve`, with the command line's flags passed through.
 */
process.argv.splice(2, 0, 'serve');
await import('./cli/main.js');
