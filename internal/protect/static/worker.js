// The hashing worker. The page fetches this script (Go's wasm_exec.js above,
// then this) with its integrity checked and runs it from a blob: URL; it
// fetches the WebAssembly with its integrity checked too. It hashes what
// the page hands it and never opens a connection of its own beyond that
// one fetch.
'use strict';
let nigehban = null;

async function start(wasmURL, wasmSRI) {
  const resp = await fetch(wasmURL, { integrity: wasmSRI, credentials: 'omit' });
  if (!resp.ok) throw new Error('WebAssembly: HTTP ' + resp.status);
  const go = new Go();
  const { instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
  go.run(instance);
  nigehban = globalThis.nigehban;
}

// readChunks feeds the file to fn 4 MiB at a time (videos are never read
// whole into memory).
async function readChunks(file, fn, report) {
  const step = 4 << 20;
  for (let off = 0; off < file.size; off += step) {
    fn(new Uint8Array(await file.slice(off, off + step).arrayBuffer()));
    report(Math.min(1, (off + step) / file.size));
  }
}

// findMoov walks an MP4/MOV file's top-level boxes for its 'moov' box.
async function findMoov(file) {
  let off = 0;
  while (off + 8 <= file.size) {
    const h = new DataView(await file.slice(off, off + 16).arrayBuffer());
    let size = h.getUint32(0), hdr = 8;
    const type = String.fromCharCode(h.getUint8(4), h.getUint8(5), h.getUint8(6), h.getUint8(7));
    if (size === 1 && h.byteLength >= 16) { size = Number(h.getBigUint64(8)); hdr = 16; }
    else if (size === 0) size = file.size - off;
    if (size < hdr) break;
    if (type === 'moov') {
      if (size > 256 << 20) break;
      return new Uint8Array(await file.slice(off, off + size).arrayBuffer());
    }
    off += size;
  }
  return null;
}

onmessage = async (e) => {
  const m = e.data;
  const reply = (result) => postMessage({ id: m.id, result });
  try {
    switch (m.op) {
      case 'init':
        await start(m.wasm, m.sri);
        return reply({ ok: true });
      case 'image': {
        // The browser's SHA-256 runs on its own thread while Go decodes.
        const sha = crypto.subtle.digest('SHA-256', m.bytes);
        const r = nigehban.hashImage(new Uint8Array(m.bytes), false);
        r.sha256 = Array.from(new Uint8Array(await sha), (b) => b.toString(16).padStart(2, '0')).join('');
        return reply(r);
      }
      case 'video': {
        const d = nigehban.digestNew();
        await readChunks(m.file, (c) => nigehban.digestUpdate(d, c),
          (p) => postMessage({ id: m.id, progress: p }));
        const sums = nigehban.digestSum(d);
        const moov = await findMoov(m.file);
        const timing = moov ? nigehban.videoTiming(moov) : { error: 'not an MP4 or MOV video' };
        return reply({ sums, timing });
      }
      case 'frame':
        return reply(nigehban.hashFrame(new Uint8Array(m.rgba), m.width, m.height));
      case 'frameYUV':
        return reply(nigehban.hashFrameYUV(new Uint8Array(m.planes), JSON.stringify(m.layout)));
      case 'solve':
        return reply({ nonce: nigehban.solve(m.challenge, m.difficulty) });
    }
    reply({ error: 'unknown operation ' + m.op });
  } catch (err) {
    reply({ error: String(err && err.message || err) });
  }
};
