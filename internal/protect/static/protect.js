// The /protect page: files are hashed on this device by the WebAssembly
// worker; only their hashes (and the age and category the person chose)
// are ever sent, to this origin. Thumbnails come from the files in memory.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($('msgs').textContent);
  const pick = $('pick');
  const items = [];
  let worker = null, seq = 0;
  const pending = new Map();

  function call(msg, transfer, onProgress) {
    return new Promise((resolve) => {
      const id = ++seq;
      pending.set(id, { resolve, onProgress });
      worker.postMessage(Object.assign({ id }, msg), transfer || []);
    });
  }

  async function startWorker() {
    const resp = await fetch(pick.dataset.worker, { integrity: pick.dataset.workerSri, credentials: 'omit' });
    const blob = new Blob([await resp.text()], { type: 'text/javascript' });
    worker = new Worker(URL.createObjectURL(blob));
    worker.onmessage = (e) => {
      const p = pending.get(e.data.id);
      if (!p) return;
      if ('progress' in e.data) { if (p.onProgress) p.onProgress(e.data.progress); return; }
      pending.delete(e.data.id);
      p.resolve(e.data.result);
    };
    const r = await call({ op: 'init', wasm: new URL(pick.dataset.wasm, location.href).href, sri: pick.dataset.wasmSri });
    if (r.error) throw new Error(r.error);
  }
  const ready = startWorker();

  function showError(msg) {
    $('error').textContent = T.error + ' ' + msg;
    $('error').hidden = false;
  }

  function once(el, ev) {
    return new Promise((resolve, reject) => {
      const ok = () => { el.removeEventListener('error', bad); resolve(); };
      const bad = () => { el.removeEventListener(ev, ok); reject(new Error(T.failed)); };
      el.addEventListener(ev, ok, { once: true });
      el.addEventListener('error', bad, { once: true });
    });
  }

  // vPDQ timestamps as the reference writes them: float32(n)/float32(fps),
  // to the millisecond.
  function timestamp(n, fps) {
    const t = Math.fround(Math.fround(n) / Math.fround(fps));
    return (Math.round(t * 1000) / 1000).toFixed(3);
  }

  function row(file) {
    const li = document.createElement('li');
    const thumb = document.createElement(file.type.startsWith('video/') ? 'canvas' : 'img');
    if (thumb.tagName === 'IMG') {
      thumb.alt = '';
      thumb.src = URL.createObjectURL(file); // local memory only
    }
    const info = document.createElement('div');
    info.className = 'info';
    const name = document.createElement('div');
    name.textContent = file.name;
    const bar = document.createElement('progress');
    bar.max = 1; bar.value = 0;
    const state = document.createElement('div');
    state.className = 'state';
    state.textContent = T.waiting;
    info.append(name, bar, state);
    const rm = document.createElement('button');
    rm.type = 'button';
    rm.textContent = T.remove;
    li.append(thumb, info, rm);
    li.dataset.name = file.name;
    li.dataset.state = 'waiting';
    $('list').append(li);
    const it = { file, li, thumb, bar, state, signals: null };
    rm.addEventListener('click', () => {
      items.splice(items.indexOf(it), 1);
      li.remove();
      update();
    });
    return it;
  }

  async function hashImage(it) {
    const bytes = await it.file.arrayBuffer();
    it.bar.removeAttribute('value'); // indeterminate while the worker decodes
    const r = await call({ op: 'image', bytes }, [bytes]);
    if (r.error) throw new Error(r.error);
    it.li.dataset.pdq = r.pdq;
    it.li.dataset.quality = r.quality;
    it.li.dataset.dihedral = r.dihedral.join(',');
    it.li.dataset.crops = r.crops.map((c) => c.name + ':' + c.pdq).join(',');
    it.li.dataset.md5 = r.md5;
    it.li.dataset.sha256 = r.sha256;
    const sigs = [{ type: 'pdq', value: r.pdq, quality: r.quality }];
    for (const d of new Set(r.dihedral.slice(1))) if (d !== r.pdq) sigs.push({ type: 'pdq', value: d, quality: r.quality });
    // Central crops: bank-side variants linked to the image's own PDQ.
    for (const c of r.crops) sigs.push({ type: 'pdq', value: c.pdq, quality: c.quality, variant: c.name, of: r.pdq });
    sigs.push({ type: 'md5', value: r.md5 }, { type: 'sha256', value: r.sha256 });
    return sigs;
  }

  // frameAt seeks the video to the middle of frame n and returns that
  // frame. 'seeked' can fire before the new frame reaches the element (the
  // old one is still shown), so the frame's own timestamp is checked
  // against frame n's, t0 + n/fps with t0 frame 0's (null for frame 0
  // itself): a stale frame (prev, the timestamp of the frame shown before)
  // is dropped and the newer one awaited, with the seek repeated if none
  // comes.
  async function frameAt(v, n, fps, t0, prev) {
    for (let seek = 0; ; seek++) {
      v.currentTime = (n + 0.5) / fps;
      await once(v, 'seeked');
      for (let wait = 0; ; wait++) {
        const vf = new VideoFrame(v);
        const due = t0 === null || Math.abs(vf.timestamp - t0 - n * 1e6 / fps) < 0.5e6 / fps;
        // A stream whose frames are not evenly spaced never shows frame n's
        // nominal time: a frame other than the one shown before will do.
        const moved = wait >= 5 && vf.timestamp !== prev;
        if (due || moved || (seek >= 3 && wait >= 25)) return vf;
        vf.close();
        if (wait >= 25) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  // hashFramePlanes hands the worker a video frame in its decoded planes
  // (the visible rectangle, at the stream's stored size), which it converts
  // to RGB exactly as ffmpeg does for `nigehban hash`: the same decoded
  // frame then hashes bit for bit alike. The colours are those the stream
  // declares (timing, read from its header in the worker), not the
  // browser's VideoColorSpace: browsers guess one for a stream that
  // declares none, and ffmpeg another. It returns null for a pixel format
  // the worker does not take.
  async function hashFramePlanes(vf, timing) {
    if (!['I420', 'I420A', 'I422', 'NV12'].includes(vf.format)) return null;
    const rect = vf.visibleRect;
    const planes = new ArrayBuffer(vf.allocationSize({ rect }));
    const layout = await vf.copyTo(planes, { rect });
    return call({ op: 'frameYUV', planes, layout: { format: vf.format, width: rect.width, height: rect.height,
      offsets: layout.map((p) => p.offset), strides: layout.map((p) => p.stride),
      matrix: timing.matrix, full_range: timing.full_range } }, [planes]);
  }

  // hashFrameRGBA hands the worker the frame as the browser draws it (its
  // own YUV→RGB conversion: close to ffmpeg's, rarely identical).
  async function hashFrameRGBA(vf, c) {
    const w = vf.displayWidth, h = vf.displayHeight;
    if (!c.canvas || c.canvas.width !== w || c.canvas.height !== h) {
      c.canvas = new OffscreenCanvas(w, h);
      c.ctx = c.canvas.getContext('2d', { willReadFrequently: true });
    }
    c.ctx.drawImage(vf, 0, 0, w, h);
    const rgba = c.ctx.getImageData(0, 0, w, h).data.buffer;
    return call({ op: 'frame', rgba, width: w, height: h }, [rgba]);
  }

  async function hashVideo(it) {
    const info = await call({ op: 'video', file: it.file }, [], (p) => { it.bar.value = p * 0.1; });
    if (info.error) throw new Error(info.error);
    if (info.timing.error) throw new Error(info.timing.error);
    const { frames, fps, frame_mod: mod } = info.timing;
    const url = URL.createObjectURL(it.file);
    const v = document.createElement('video');
    v.muted = true;
    v.preload = 'auto';
    v.src = url;
    try {
      await once(v, 'loadeddata');
      const total = Math.ceil(frames / mod);
      const out = [];
      const rgba = { canvas: null, ctx: null };
      let planar = 0;
      let t0 = 0, prev = null;
      for (let k = 0, n = 0; n < frames; k++, n += mod) {
        const vf = await frameAt(v, n, fps, k === 0 ? null : t0, prev);
        if (k === 0) t0 = vf.timestamp;
        prev = vf.timestamp;
        let r;
        try {
          if (k === 0) {
            const cs = vf.colorSpace || {};
            it.li.dataset.frameFormat = [vf.format, cs.matrix, cs.fullRange, 'stream', info.timing.matrix, info.timing.full_range].join(' ');
            it.thumb.width = 56; it.thumb.height = 56;
            it.thumb.getContext('2d').drawImage(vf, 0, 0, 56, 56);
          }
          r = await hashFramePlanes(vf, info.timing);
          if (r && !r.error) planar++;
          else r = await hashFrameRGBA(vf, rgba);
        } finally {
          vf.close();
        }
        if (r.error) throw new Error(r.error);
        out.push(r.pdq + ',' + r.quality + ',' + timestamp(n, fps));
        it.bar.value = 0.1 + 0.9 * (k + 1) / total;
        it.state.textContent = T.frames + ' ' + (k + 1) + '/' + total;
      }
      it.li.dataset.planarFrames = planar;
      const vpdq = JSON.stringify(out);
      it.li.dataset.vpdq = vpdq;
      it.li.dataset.md5 = info.sums.md5;
      it.li.dataset.sha256 = info.sums.sha256;
      return [{ type: 'vpdq', value: vpdq }, { type: 'md5', value: info.sums.md5 }, { type: 'sha256', value: info.sums.sha256 }];
    } finally {
      v.removeAttribute('src');
      v.load();
      URL.revokeObjectURL(url);
    }
  }

  let queue = Promise.resolve();
  function add(files) {
    for (const file of files) {
      const it = row(file);
      items.push(it);
      queue = queue.then(async () => {
        if (!items.includes(it)) return;
        it.state.textContent = T.hashing;
        it.li.dataset.state = 'hashing';
        const started = performance.now();
        try {
          await ready;
          it.signals = file.type.startsWith('video/') ? await hashVideo(it) : await hashImage(it);
          it.state.textContent = T.done;
          it.li.dataset.state = 'done';
        } catch (err) {
          it.state.textContent = T.failed + ' (' + err.message + ')';
          it.li.dataset.state = 'failed';
        }
        it.li.dataset.ms = Math.round(performance.now() - started);
        it.bar.value = 1;
        update();
      });
    }
    update();
  }

  function update() {
    const done = items.filter((it) => it.signals);
    $('send').hidden = items.length === 0;
    $('submit').disabled = done.length === 0 || done.length !== items.filter((it) => it.li.dataset.state !== 'failed').length;
  }

  async function submit() {
    $('submit').disabled = true;
    $('working').hidden = false;
    $('error').hidden = true;
    try {
      const signals = items.filter((it) => it.signals).flatMap((it) => it.signals);
      const cr = await fetch('/v1/protect/challenge', { credentials: 'omit', cache: 'no-store' });
      if (!cr.ok) throw new Error(cr.status === 429 ? T.limited : 'HTTP ' + cr.status);
      const ch = await cr.json();
      const { nonce } = await call({ op: 'solve', challenge: ch.challenge, difficulty: ch.difficulty });
      const body = JSON.stringify({ signals, age: $('age').value, category: $('category').value,
        proof: { challenge: ch.challenge, nonce } });
      const resp = await fetch('/v1/protect/cases', { method: 'POST', credentials: 'omit', cache: 'no-store',
        headers: { 'Content-Type': 'application/json' }, body });
      const out = await resp.json();
      if (resp.status === 429) throw new Error(T.limited);
      if (!resp.ok) throw new Error(out.error ? out.error.message : 'HTTP ' + resp.status);
      $('case-number').textContent = out.number;
      $('case-pin').textContent = out.pin;
      $('case-hashes').textContent = out.hashes;
      $('receipt').hidden = false;
      $('pick').hidden = true;
      $('send').hidden = true;
    } catch (err) {
      showError(err.message);
      $('submit').disabled = false;
    } finally {
      $('working').hidden = true;
    }
  }

  $('files').addEventListener('change', (e) => { add(Array.from(e.target.files)); e.target.value = ''; });
  $('submit').addEventListener('click', submit);
  ready.catch((err) => showError(err.message));
})();
