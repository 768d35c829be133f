import { PGlite } from '@electric-sql/pglite';
let t = performance.now();
const db = await PGlite.create();
console.log('fresh', Math.round(performance.now()-t), 'ms', Math.round(process.memoryUsage().rss/1e6),'MB');
await db.exec('create table a(id int primary key, j jsonb); insert into a values (1, \'{}\'); select 1; select 2;');
t = performance.now();
const dump = await db.dumpDataDir('none');
console.log('dump', Math.round(performance.now()-t), 'ms', dump.size);
t = performance.now();
const db2 = await PGlite.create({ loadDataDir: dump });
console.log('load', Math.round(performance.now()-t), 'ms', (await db2.query('select count(*) from a')).rows, Math.round(process.memoryUsage().rss/1e6),'MB');
if (db.clone) { t = performance.now(); const c = await db.clone(); console.log('clone', Math.round(performance.now()-t), 'ms'); }
const r = await db.exec('select 1 as x; select 2 as y');
console.log(JSON.stringify(r.map(x=>x.rows)));
try { await db.query('insert into a values (1, null)'); } catch (e) { console.log(e.constructor.name, e.code, e.message, Object.keys(e)); }
t = performance.now();
for (let i=0;i<1000;i++) await db.query('select * from a where id = $1', [1]);
console.log('1000 queries', Math.round(performance.now()-t), 'ms');
