extension ConsolePage {
    static let script = #"""
(() => {
'use strict';
const $ = (id) => document.getElementById(id);
// Seeds go up to 2^64-1, past what a JS number holds exactly (2^53): a big one keeps its digits as
// text (JSON.parse's source text, where the browser has it), so the history shows it and "reuse"
// makes the same picture (it showed and reused 18446744073709552000).
const keepBigSeeds = (k, v, ctx) =>
  (k === 'seed' && typeof v === 'number' && !Number.isSafeInteger(v) && ctx && typeof ctx.source === 'string') ? ctx.source : v;
const parseJSON = (text) => JSON.parse(text, keepBigSeeds);
Response.prototype.json = function () { return this.text().then(parseJSON); };
const DEFAULT_STYLES = [
  ['赛博朋克 Cyberpunk', 'cyberpunk style, neon lights, rainy futuristic city at night, high contrast'],
  ['水彩 Watercolor', 'watercolor painting, soft washes of color, visible paper texture'],
  ['中国水墨 Chinese ink', 'traditional Chinese ink wash painting, expressive brushwork, rice paper, generous empty space'],
  ['动漫 Anime', 'anime style, clean line art, cel shading, vibrant colors'],
  ['摄影 Photo', 'photorealistic photograph, 35mm lens, natural light, sharp focus, fine detail'],
];
const ASPECTS = [['1:1', 1024, 1024], ['4:3', 1152, 896], ['3:4', 896, 1152], ['3:2', 1216, 832],
                 ['2:3', 832, 1216], ['16:9', 1344, 768], ['9:16', 768, 1344]];
const STAGES = { 'encoding text': '编码提示词 (encoding prompt)', 'denoising': '去噪 (denoising)',
                 'decoding': '解码 (decoding)', 'saving': '保存 (saving)' };
const followed = new Map();   // job id -> EventSource
let current = null;           // the job the result panel shows
let lastSeed = null;
let workerNames = {};         // worker id -> name (GET /api/status's workers)
let maxPixels = 2048 * 2048;
let sizeDefaulted = false;    // the size fields take the model's own size once, unless the user typed one
let userSized = false;
let userStepped = false;      // likewise for the steps and the guidance: the model's, unless edited
let userGuided = false;
let styles = loadStyles();
let loraList = [];            // the LoRA folder's files (GET /api/loras)
let chosen = [];              // the LoRAs the next job uses: {name, weight (text as typed)}
let lastQueue = '';           // running id and waiting count at the last status poll: a change reloads the history
let historyAge = 0;           // ms since the status poll last reloaded the history
let unreachable = false;      // the last status poll failed: the next good one clears the connection error
const OWN_JOBS = 'majicflux.jobs';   // ids this browser submitted, so a reload (or another tab) follows them again
function ownJobs() { try { return JSON.parse(localStorage.getItem(OWN_JOBS) || '[]'); } catch (e) { return []; } }
function rememberJobs(ids) { try { localStorage.setItem(OWN_JOBS, JSON.stringify(ownJobs().concat(ids).slice(-32))); } catch (e) {} }

// ---- styles -------------------------------------------------------------------------------
function loadStyles() {
  try {
    const s = JSON.parse(localStorage.getItem('majicflux.styles') || 'null');
    if (Array.isArray(s) && s.every((x) => Array.isArray(x) && x.length === 2)) return s;
  } catch (e) { /* private mode or bad data: defaults */ }
  return DEFAULT_STYLES.map((x) => x.slice());
}
function saveStyles() { try { localStorage.setItem('majicflux.styles', JSON.stringify(styles)); } catch (e) {} }
function renderStyles() {
  const box = $('style-chips');
  box.replaceChildren();
  for (const [name, phrase] of styles) {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'chip'; b.textContent = name; b.title = phrase;
    b.addEventListener('click', () => toggleStyle(phrase));
    box.appendChild(b);
  }
  markStyles();
}
function toggleStyle(phrase) {
  const p = $('prompt');
  if (p.value.includes(phrase)) {
    p.value = p.value.replace(', ' + phrase, '').replace(phrase + ', ', '').replace(phrase, '').trim();
  } else {
    const base = p.value.trim().replace(/,\s*$/, '');
    p.value = base ? base + ', ' + phrase : phrase;
  }
  markStyles();
  p.focus();
}
function markStyles() {
  promptTokens.update();  // (defined further down; first called once the whole script has run)
  const text = $('prompt').value;
  [...$('style-chips').children].forEach((b, i) => b.classList.toggle('active', !!styles[i] && text.includes(styles[i][1])));
}
$('edit-styles').addEventListener('click', () => {
  const ed = $('style-editor');
  ed.hidden = !ed.hidden;
  $('style-text').value = styles.map(([n, p]) => n + ' | ' + p).join('\n');
});
$('save-styles').addEventListener('click', () => {
  styles = $('style-text').value.split('\n').map((l) => l.split('|')).filter((x) => x.length >= 2)
    .map((x) => [x[0].trim(), x.slice(1).join('|').trim()]).filter(([n, p]) => n && p);
  saveStyles(); renderStyles(); $('style-editor').hidden = true;
});
$('reset-styles').addEventListener('click', () => {
  styles = DEFAULT_STYLES.map((x) => x.slice());
  saveStyles(); renderStyles(); $('style-text').value = styles.map(([n, p]) => n + ' | ' + p).join('\n');
});
$('prompt').addEventListener('input', () => { markStyles(); markTriggers(); });

// ---- LoRAs ----------------------------------------------------------------------------------
let loraListText = null;
async function loadLoras() {
  let list;
  try { list = (await (await fetch('/api/loras', { cache: 'no-store' })).json()).loras || []; } catch (e) { return; }
  // Unchanged: the rows (and a weight being typed) stay as they are.
  if (JSON.stringify(list) === loraListText) return;
  loraListText = JSON.stringify(list);
  loraList = list;
  renderLoras();
}
function loraInfo(name) { return loraList.find((l) => l.name === name); }
function renderLoras() {
  const box = $('lora-chips');
  box.replaceChildren();
  for (const l of loraList) {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'chip'; b.dataset.name = l.name;
    b.textContent = l.title && l.title !== l.name ? `${l.title} (${l.name})` : l.name;
    b.title = `${l.name}.safetensors · rank ${l.rank} · ${(l.size / 1048576).toFixed(1)} MB`;
    b.classList.toggle('active', chosen.some((c) => c.name === l.name));
    b.addEventListener('click', () => toggleLora(l.name));
    box.appendChild(b);
  }
  $('lora-none').hidden = loraList.length > 0;
  renderChosen();
}
function toggleLora(name) {
  if (chosen.some((c) => c.name === name)) chosen = chosen.filter((c) => c.name !== name);
  else chosen.push({ name, weight: '1' });
  renderLoras();
}
function renderChosen() {
  const list = $('lora-list');
  list.replaceChildren();
  for (const c of chosen) {
    const info = loraInfo(c.name);
    const row = document.createElement('div');
    row.className = 'lora-row' + (info ? '' : ' missing'); row.dataset.name = c.name;
    const head = document.createElement('div'); head.className = 'lora-head';
    const title = document.createElement('span');
    title.textContent = info && info.title !== c.name ? `${info.title} (${c.name})` : c.name;
    if (!info) {
      const note = document.createElement('span'); note.className = 'hint';
      note.textContent = ' · 不在 LoRA 文件夹中 (not in the LoRA folder)';
      title.appendChild(note);
    }
    const remove = document.createElement('button');
    remove.type = 'button'; remove.className = 'icon lora-remove'; remove.textContent = '×';
    remove.title = '移除 (remove)'; remove.setAttribute('aria-label', `移除 (remove) ${c.name}`);
    remove.addEventListener('click', () => toggleLora(c.name));
    head.append(title, remove);
    // The slider covers the usual weights; the number takes any the server accepts (-10 to 10).
    const weight = document.createElement('div'); weight.className = 'lora-weight';
    const slider = document.createElement('input');
    slider.type = 'range'; slider.className = 'lora-slider'; slider.min = '-2'; slider.max = '2'; slider.step = '0.05';
    slider.value = c.weight; slider.setAttribute('aria-label', `权重 (weight) ${c.name}`);
    const number = document.createElement('input');
    number.type = 'number'; number.className = 'lora-number'; number.min = '-10'; number.max = '10'; number.step = '0.05';
    number.value = c.weight; number.title = '权重 (weight)';
    slider.addEventListener('input', () => { c.weight = slider.value; number.value = slider.value; });
    number.addEventListener('input', () => { c.weight = number.value; if (number.value !== '') slider.value = number.value; });
    weight.append(slider, number);
    row.append(head, weight);
    const words = info ? info.trigger_words || [] : [];
    if (words.length) {
      const triggers = document.createElement('div'); triggers.className = 'chips lora-triggers';
      const label = document.createElement('span'); label.className = 'hint'; label.textContent = '触发词 (trigger words):';
      triggers.appendChild(label);
      for (const w of words) {
        const t = document.createElement('button');
        t.type = 'button'; t.className = 'chip trigger'; t.textContent = w; t.dataset.word = w;
        t.title = '点击加入提示词 (click to add it to the prompt)';
        t.addEventListener('click', () => { toggleStyle(w); markTriggers(); });
        triggers.appendChild(t);
      }
      row.appendChild(triggers);
    }
    list.appendChild(row);
  }
  markTriggers();
}
function markTriggers() {
  const text = $('prompt').value;
  for (const t of document.querySelectorAll('#lora-list .trigger')) t.classList.toggle('active', text.includes(t.dataset.word));
}
function loraText(loras) { return (loras || []).map((l) => `${l.name} ${l.weight}`).join(', '); }
$('refresh-loras').addEventListener('click', loadLoras);
window.addEventListener('focus', loadLoras);

// ---- size, seed, steps -------------------------------------------------------------------
function renderAspects() {
  const box = $('aspects');
  box.replaceChildren();
  for (const [name, w, h] of ASPECTS) {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'chip'; b.dataset.w = w; b.dataset.h = h;
    const [fw, fh] = fit(w, h);
    b.textContent = `${name} · ${fw}×${fh}`;
    b.addEventListener('click', () => { const [a, c] = fit(w, h); $('width').value = a; $('height').value = c; markAspect(); });
    box.appendChild(b);
  }
  markAspect();
}
function fit(w, h) {   // scale down to the server's pixel limit, keeping multiples of 16
  if (w * h <= maxPixels) return [w, h];
  const k = Math.sqrt(maxPixels / (w * h));
  return [Math.max(16, Math.floor(w * k / 16) * 16), Math.max(16, Math.floor(h * k / 16) * 16)];
}
function markAspect() {
  for (const b of $('aspects').children) {
    const [fw, fh] = fit(+b.dataset.w, +b.dataset.h);
    b.classList.toggle('active', String(fw) === $('width').value && String(fh) === $('height').value);
  }
}
$('width').addEventListener('input', () => { userSized = true; markAspect(); });
$('height').addEventListener('input', () => { userSized = true; markAspect(); });
$('steps').addEventListener('input', () => { userStepped = true; $('steps-value').textContent = $('steps').value; });
$('guidance').addEventListener('input', () => { userGuided = true; });

// ---- the form survives a reload: the fields the user edited are kept in this browser -------------
const FORM = 'majicflux.form';
const FORM_FIELDS = ['prompt', 'negative', 'seed', 'steps', 'width', 'height', 'guidance', 'cfg'];
function saveField(id) {
  try {
    const f = JSON.parse(localStorage.getItem(FORM) || '{}');
    f[id] = $(id).value;
    localStorage.setItem(FORM, JSON.stringify(f));
  } catch (e) {}
}
function restoreForm() {
  let f = null;
  try { f = JSON.parse(localStorage.getItem(FORM) || 'null'); } catch (e) {}
  if (!f || typeof f !== 'object') return;
  for (const id of FORM_FIELDS) if (typeof f[id] === 'string') $(id).value = f[id];
  if ('width' in f || 'height' in f) userSized = true;   // not replaced by the model's size
  if ('steps' in f) { userStepped = true; $('steps-value').textContent = $('steps').value; }
  if ('guidance' in f) userGuided = true;
}
for (const id of FORM_FIELDS) $(id).addEventListener('input', () => saveField(id));
$('dice').addEventListener('click', () => { $('seed').value = '-1'; });
$('reuse-seed').addEventListener('click', () => { if (lastSeed !== null) $('seed').value = String(lastSeed); });

// ---- model status -----------------------------------------------------------------------
async function pollStatus() {
  let delay = 1000;
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    const s = await r.json();
    const badge = $('model-status');
    badge.className = 'badge ' + s.model.state;
    if (s.model.state === 'loading') {
      badge.textContent = `正在加载模型… (loading model…) ${Math.round(s.model.seconds)}s`;
    } else if (s.model.state === 'ready') {
      badge.textContent = `模型就绪 (model ready) · ${s.model.name}` + (s.waiting ? ` · 排队 (queued) ${s.waiting}` : '');
      delay = 5000;
    } else if (s.model.state === 'waiting') {
      badge.textContent = `等待工作进程 (no worker yet): ${s.model.message}`;
      delay = 3000;
    } else {
      badge.textContent = `模型加载失败 (model failed to load): ${s.model.message}`;
      delay = 10000;
    }
    if (s.queue_error) { badge.className = 'badge failed'; badge.textContent = `队列不可用 (queue unavailable): ${s.queue_error}`; delay = 3000; }
    renderWorkers(s.workers || [], s.running, s.waiting);
    // Pictures made by other tabs, other users, or a batch's later jobs: the history follows the queue.
    const queue = `${s.running}|${s.waiting}`;
    // (Jobs quicker than a poll leave the queue as it was: the history is also read every 15 s.)
    historyAge += delay;
    if (queue !== lastQueue || historyAge >= 15000) { lastQueue = queue; historyAge = 0; loadHistory(); adoptOwnJob(); }
    if (s.running || s.waiting || $('queue').childElementCount) loadQueue();
    if (s.running || s.waiting) delay = Math.min(delay, 1500);
    if (unreachable) { unreachable = false; if ($('error').dataset.kind === 'connection') hideError(); promptTokens.update(); }
    if (s.limits && s.limits.max_pixels !== maxPixels) { maxPixels = s.limits.max_pixels; renderAspects(); }
    if (!sizeDefaulted && s.defaults && s.defaults.width) {
      sizeDefaulted = true;
      const d = s.defaults;
      if (!userSized) { $('width').value = d.width; $('height').value = d.height; markAspect(); }
      // The model's steps and guidance (schnell: 4 steps, no guidance embedder), unless already edited.
      if (!userStepped && d.steps) { $('steps').value = d.steps; $('steps-value').textContent = d.steps; }
      if (!userGuided && typeof d.guidance === 'number') { $('guidance').value = d.guidance; }
      $('guidance').disabled = d.uses_guidance === false;
      $('guidance').title = d.uses_guidance === false ? `${d.preset}: 无引导嵌入 (no guidance embedder)` : '';
      cond.setKind(d.conditioning);
      promptTokens.setDefault(d.max_sequence_length);
    }
  } catch (e) {
    $('model-status').className = 'badge failed';
    $('model-status').textContent = '无法连接服务器 (server unreachable)';
    unreachable = true;
    delay = 3000;
  }
  setTimeout(pollStatus, delay);
}

// ---- workers and queue --------------------------------------------------------------------
const WORKER_STATES = { loading: '加载中 (loading)', idle: '空闲 (idle)', busy: '运行中 (busy)',
  failed: '失败 (failed)', stopped: '已停止 (stopped)', unresponsive: '无响应 (unresponsive)' };
function workerLabel(id) { return id ? (workerNames[id] || id) : ''; }
function renderWorkers(workers, running, waiting) {
  workerNames = {};
  const list = $('workers');
  list.textContent = '';
  for (const w of workers) {
    workerNames[w.id] = w.name;
    const row = document.createElement('div');
    row.className = 'worker ' + w.state;
    row.dataset.id = w.id;
    const job = w.job ? ` · 任务 (job) ${w.job}` : '';
    const why = w.message && w.state !== 'busy' ? ` · ${w.message}` : '';
    row.textContent = `${w.name} · ${w.device} · ${w.model} · ${WORKER_STATES[w.state] || w.state}${job}${why}`;
    list.appendChild(row);
  }
  const busy = workers.filter((w) => w.state === 'busy').length;
  $('workers-summary').textContent = `${workers.length} 个工作进程 (workers) · ${busy} 忙 (busy) · 排队 (queued) ${waiting || 0}`;
}

// Every waiting and running job, in run order: each can be followed in the result panel and
// cancelled (a second job no longer hides the first, which kept running out of reach); this
// browser's own jobs are marked.
async function loadQueue() {
  let jobs = [];
  try { jobs = (await (await fetch('/api/jobs', { cache: 'no-store' })).json()).jobs || []; } catch (e) { return; }
  const mine = new Set(ownJobs()), box = $('queue');
  box.replaceChildren();
  for (const j of jobs) {
    const row = document.createElement('div');
    row.className = 'queued-job' + (mine.has(j.id) ? ' mine' : '');
    const text = document.createElement('span');
    const where = j.status === 'running' ? `运行中 (running) ${j.step}/${j.total_steps}` : `排队 (queued) #${j.position + 1}`;
    text.textContent = `${where} · ${j.parameters.prompt.slice(0, 60)} · 种子 (seed) ${j.parameters.seed}` + (mine.has(j.id) ? ' · 本浏览器 (yours)' : '');
    const show = document.createElement('button'); show.type = 'button'; show.textContent = '查看 (Follow)';
    show.addEventListener('click', () => follow(j));
    const stop = document.createElement('button'); stop.type = 'button'; stop.textContent = '取消 (Cancel)';
    stop.addEventListener('click', async () => {
      const r = await fetch(`/api/jobs/${j.id}/cancel`, { method: 'POST' });
      if (!r.ok) { const e = await r.json().catch(() => ({})); showError(e.error || `HTTP ${r.status}`); }
      loadQueue();
    });
    row.append(text, show, stop);
    box.appendChild(row);
  }
}

// ---- jobs -------------------------------------------------------------------------------
function showError(message, kind) { const e = $('error'); e.textContent = message; e.hidden = false; e.dataset.kind = kind || ''; }
function hideError() { $('error').hidden = true; $('error').textContent = ''; $('error').dataset.kind = ''; }

// A job this browser submitted that is still waiting or running (after a reload, or from another
// tab) comes back into the result panel, with its progress and its Cancel button.
async function adoptOwnJob() {
  if (current && followed.has(current)) return;
  const mine = ownJobs();
  for (const id of mine.slice().reverse()) {
    let snap;
    try { const r = await fetch(`/api/jobs/${id}`, { cache: 'no-store' }); if (!r.ok) continue; snap = await r.json(); } catch (e) { return; }
    if (snap.status === 'queued' || snap.status === 'running') { if (!(current && followed.has(current))) follow(snap); return; }
  }
}

async function submit(ev) {
  ev.preventDefault();
  hideError();
  const body = {
    prompt: $('prompt').value,
    negative_prompt: $('negative').value,
    seed: $('seed').value.trim(),
    batch_count: $('batch-count').value.trim(),
    steps: Number($('steps').value),
    width: $('width').value.trim(),
    height: $('height').value.trim(),
    guidance: $('guidance').value.trim(),
    true_cfg_scale: $('cfg').value.trim(),
    loras: chosen.map((c) => ({ name: c.name, weight: String(c.weight).trim() })),
  };
  try { Object.assign(body, await cond.fields()); } catch (e) { showError('无法读取输入图像 (cannot read the input picture): ' + e); return; }
  Object.assign(body, stepCache.fields(), promptTokens.fields(), hiresFix.fields());
  let r, j;
  try {
    r = await fetch('/api/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  } catch (e) {
    showError('无法连接服务器 (cannot reach the server; is it running?)', 'connection');
    return;
  }
  if (!r.ok) { showError('请求被拒绝 (refused): ' + (j.error || `HTTP ${r.status}`)); return; }
  rememberJobs(j.batch || [j.id]);
  for (const id of FORM_FIELDS) saveField(id);   // what was sent comes back after a reload
  follow(j);
  loadQueue();   // at once, not at the next status poll (up to 5 s later)
}

function follow(snap) {
  if (followed.has(snap.id)) { followed.get(snap.id).close(); followed.delete(snap.id); }   // followed again (the queue list)
  current = snap.id;
  const bar = $('progress-bar');
  bar.style.transition = 'none'; bar.style.width = '0%'; void bar.offsetWidth; bar.style.transition = '';
  $('result-meta').textContent = '';
  showSnapshot(snap);
  $('result-image').hidden = true;
  $('result-image').dataset.final = '';
  $('placeholder').hidden = false;
  $('download').hidden = true;
  $('use-result').hidden = true;
  const es = new EventSource(`/api/jobs/${snap.id}/events`);
  followed.set(snap.id, es);
  es.addEventListener('progress', (e) => { const s = parseJSON(e.data); if (s.id === current) showSnapshot(s); });
  es.addEventListener('preview', (e) => {
    if (snap.id !== current) return;
    const p = parseJSON(e.data);
    const img = $('result-image');
    img.classList.add('preview'); img.src = p.image; img.hidden = false; $('placeholder').hidden = true;
  });
  es.addEventListener('end', (e) => {
    es.close(); followed.delete(snap.id);
    const s = parseJSON(e.data);
    if (s.id === current) showFinal(s);
    loadHistory();
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED && followed.has(snap.id)) {
      followed.delete(snap.id);
      if (snap.id === current) {
        showError('与服务器的连接已断开 (lost the connection to the server)', 'connection'); setBusy(false);
        $('job-status').textContent = '连接已断开 (connection lost)'; $('progress-text').textContent = '';
        current = null;   // the next good status poll follows it again if it still waits or runs
      }
    }
  };
}

function setBusy(busy) { $('cancel').disabled = !busy; }

function showSnapshot(s) {
  const st = $('job-status');
  const seed = `种子 (Seed) ${s.parameters.seed}`;
  if (s.status === 'queued') {
    st.textContent = `排队中 (queued) · 前面还有 ${s.position} 个任务 (position ${s.position}) · ${seed}`;
    $('progress-bar').style.width = '0%';
    $('progress-text').textContent = '等待空闲设备 (waiting for the device)';
    setBusy(true);
  } else if (s.status === 'running') {
    st.textContent = `${STAGES[s.stage] || s.stage} · ${seed}`;
    const frac = s.stage === 'decoding' || s.stage === 'saving' ? 1 : s.step / Math.max(1, s.total_steps);
    $('progress-bar').style.width = (100 * frac).toFixed(1) + '%';
    const left = s.eta_seconds == null ? '--' : `${Math.round(s.eta_seconds)}s`;
    const took = s.elapsed == null ? '' : ` · 已用 (elapsed) ${Math.round(s.elapsed)}s`;
    const on = s.worker ? ` · 工作进程 (worker) ${workerLabel(s.worker)}` : '';
    $('progress-text').textContent = `步骤 (Step) ${s.step}/${s.total_steps} · 剩余 (left) ${left}${took}${on}`;
    setBusy(true);
  }
}

function showFinal(s) {
  setBusy(false);
  const st = $('job-status');
  if (s.status === 'done') {
    lastSeed = s.parameters.seed;
    st.textContent = `完成 (done) · 实际种子 (actual seed) ${s.parameters.seed}`;
    $('progress-bar').style.width = '100%';
    $('progress-text').textContent = `步骤 (Step) ${s.total_steps}/${s.total_steps} · 用时 (took) ${s.history ? seconds(s.history.seconds) : '?'}`;
    showImage(s.history);
  } else if (s.status === 'cancelled') {
    st.textContent = '已取消 (cancelled)';
    $('progress-text').textContent = s.error && s.error !== 'cancelled' ? s.error : '';
    $('result-image').hidden = true; $('placeholder').hidden = false;
  } else {
    st.textContent = '失败 (failed)';
    showError(s.error || 'failed');
    $('result-image').hidden = true; $('placeholder').hidden = false;
  }
}

function seconds(t) { return t < 10 ? t.toFixed(2) + 's' : Math.round(t) + 's'; }

function showImage(h) {
  const img = $('result-image');
  img.classList.remove('preview');
  img.dataset.final = '';
  img.onload = () => {
    img.dataset.final = '1';
    // The picture's own size: the hires fix makes it larger than the request's width and height.
    $('result-meta').textContent = $('result-meta').textContent.replace(/ · \d+×\d+ · /, ` · ${img.naturalWidth}×${img.naturalHeight} · `);
  };
  img.src = h.url;
  img.hidden = false;
  $('placeholder').hidden = true;
  const p = h.parameters;
  const loras = p.loras && p.loras.length ? ` · LoRA ${loraText(p.loras)}` : '';
  $('result-meta').textContent = `${p.prompt} — 种子 (Seed) ${p.seed} · ${p.width}×${p.height} · ${p.steps} 步 (steps) · 引导 (Guidance) ${p.guidance}${loras} · ${h.model}`;
  const a = $('download');
  a.href = h.url; a.download = h.file; a.hidden = false;
  $('use-result').hidden = false; $('use-result').dataset.url = h.url;
}

$('cancel').addEventListener('click', async () => {
  if (!current) return;
  const r = await fetch(`/api/jobs/${current}/cancel`, { method: 'POST' });
  if (!r.ok) { const j = await r.json().catch(() => ({})); showError(j.error || `HTTP ${r.status}`); }
});

// ---- history ------------------------------------------------------------------------------
async function loadHistory() {
  let items = [];
  try { items = (await (await fetch('/api/history', { cache: 'no-store' })).json()).items || []; } catch (e) { return; }
  const box = $('history');
  box.replaceChildren();
  $('history-empty').hidden = items.length > 0;
  for (const h of items) {
    const p = h.parameters;
    const card = document.createElement('div'); card.className = 'item';
    const img = document.createElement('img');
    img.src = h.url; img.loading = 'lazy'; img.alt = p.prompt; img.title = '查看 (view)';
    img.addEventListener('click', () => {
      current = null; setBusy(false); showImage(h); hideError();
      $('job-status').textContent = `历史 (history) · 种子 (Seed) ${p.seed}`;
      $('progress-text').textContent = `${p.steps} 步 (steps) · 用时 (took) ${seconds(h.seconds)}`;
      $('progress-bar').style.width = '100%';
    });
    img.addEventListener('load', () => { sub.textContent = `${img.naturalWidth}×${img.naturalHeight} · ${p.steps} 步 · seed ${p.seed}`; });
    const cap = document.createElement('div'); cap.className = 'cap'; cap.textContent = p.prompt;
    const sub = document.createElement('div'); sub.className = 'sub2';
    sub.textContent = `${p.width}×${p.height} · ${p.steps} 步 · seed ${p.seed}`;
    const b = document.createElement('button'); b.type = 'button'; b.textContent = '复用参数 (Reuse)';
    b.addEventListener('click', () => reuse(p));
    const use = document.createElement('button'); use.type = 'button'; use.className = 'use'; use.textContent = '用作输入 (Use as input)';
    use.addEventListener('click', () => cond.useAsInput(h.url));
    const del = document.createElement('button'); del.type = 'button'; del.className = 'del'; del.textContent = '删除 (Delete)';
    del.addEventListener('click', () => removeHistory(h));
    card.append(img, cap, sub);
    if (p.conditioning) {
      const c = document.createElement('div'); c.className = 'sub2 mode';
      c.textContent = `${p.conditioning.mode}` + (p.conditioning.strength != null ? ` · ${p.conditioning.strength}` : '');
      card.appendChild(c);
    }
    if (p.loras && p.loras.length) {
      const lo = document.createElement('div'); lo.className = 'sub2 loras'; lo.textContent = 'LoRA: ' + loraText(p.loras);
      card.appendChild(lo);
    }
    card.append(b, use, del);
    box.appendChild(card);
  }
}

async function removeHistory(h) {
  if (!window.confirm(`删除 (delete) ${h.file}?`)) return;
  const r = await fetch(`/api/history/${encodeURIComponent(h.file)}`, { method: 'DELETE' });
  if (!r.ok) { const j = await r.json().catch(() => ({})); showError(j.error || `HTTP ${r.status}`); }
  loadHistory();
}

function reuse(p) {
  $('prompt').value = p.prompt;
  $('negative').value = p.negative_prompt || '';
  $('seed').value = String(p.seed);
  const steps = $('steps');
  if (p.steps > Number(steps.max)) steps.max = '100';
  steps.value = p.steps; $('steps-value').textContent = p.steps;
  $('width').value = p.width; $('height').value = p.height;
  $('guidance').value = p.guidance; $('cfg').value = p.true_cfg_scale;
  chosen = (p.loras || []).map((l) => ({ name: l.name, weight: String(l.weight) }));
  renderLoras();
  stepCache.restore(p.cache_threshold);
  hiresFix.restore(p.hires, p.width);
  promptTokens.restore(p.max_sequence_length);
  markStyles(); markAspect(); hideError();
  // The input pictures come back too; their size would replace the job's, so it is set again after.
  cond.restore(p.conditioning).then(() => { $('width').value = p.width; $('height').value = p.height; markAspect(); });
  window.scrollTo({ top: 0, behavior: 'smooth' });
}

/*CONDITIONING*/
$('use-result').addEventListener('click', () => cond.useAsInput($('use-result').dataset.url));
$('gen-form').addEventListener('submit', submit);
$('prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('gen-form').requestSubmit(); });
restoreForm();
promptTokens.update();
renderStyles();
renderAspects();
markAspect();
pollStatus();
loadHistory();
loadLoras();
})();
"""#
}
