// node-postgres clients for test_prepared.py: named (server-side prepared) queries through a Pool and
// through single clients, concurrently; prints one JSON document with every result, in a fixed order.
'use strict';
const { Pool, Client } = require('pg');

const [port, nClients, rounds, table] = [Number(process.argv[2]), Number(process.argv[3]),
  Number(process.argv[4]), process.argv[5]];
const conn = { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' };

// Named queries: node-postgres prepares each once per connection and then only binds it.
const Q = {
  item: (i) => ({ name: 'item', text: `SELECT id, v FROM ${table} WHERE id = $1`, values: [i % 50 + 1] }),
  range: (i) => ({ name: 'range', text: `SELECT count(*)::int AS n, sum(id)::int AS s FROM ${table} WHERE id BETWEEN $1 AND $2`,
    values: [i % 40 + 1, i % 40 + 10] }),
  echo: (i) => ({ name: 'echo', text: 'SELECT $1::text || $2::text AS t', values: [`c${i}`, 'x'] }),
  bump: (k) => ({ name: 'bump', text: `UPDATE ${table} SET n = n + 1 WHERE id = $1`, values: [k % 50 + 1] }),
};

async function poolWork(pool, k) {
  const out = [];
  for (let i = 0; i < rounds; i++) {
    const q = [Q.item, Q.range, Q.echo][(i + k) % 3](i + k);
    out.push((await pool.query(q)).rows);
    if (i % 5 === 0) await pool.query(Q.bump(k));
    if (i % 7 === 0) {   // a transaction on one checked-out connection, named queries inside
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await c.query(Q.bump(k));
        out.push((await c.query(Q.item(k))).rows);
        await c.query('COMMIT');
      } finally { c.release(); }
    }
  }
  return out;
}

async function clientWork(k) {
  const c = new Client(conn);
  await c.connect();
  const out = [];
  try {
    for (let i = 0; i < rounds; i++)
      out.push((await c.query([Q.range, Q.echo, Q.item][(i + k) % 3](i * 3 + k))).rows);
  } finally { await c.end(); }
  return out;
}

(async () => {
  const pool = new Pool({ ...conn, max: nClients });
  const jobs = [];
  for (let k = 0; k < nClients; k++) jobs.push(poolWork(pool, k));
  for (let k = 0; k < nClients; k++) jobs.push(clientWork(k));
  const results = await Promise.all(jobs);
  await pool.end();
  process.stdout.write(JSON.stringify(results));
})().catch((e) => { process.stderr.write(`${e.code || ''} ${e.message}\n`); process.exit(1); });
