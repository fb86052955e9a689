extension ConsolePage {
    /// The form's picture inputs: the input picture with its mask brush, strength, mask blur and
    /// outpaint margins (ordinary and Fill models), the control picture with Canny (Canny/Depth
    /// models) or the Kontext reference; which show depends on `defaults.conditioning`.
    static let conditioningHTML = #"""
      <div id="cond" class="cond">
        <section id="image-section" data-kinds="base fill">
          <div class="head-row">
            <span class="label">输入图像 (Input picture)</span>
            <button type="button" id="image-clear" class="link" hidden>移除 (Remove)</button>
          </div>
          <label class="drop" id="image-drop">拖放或选择图像 (drop or choose a picture)<input type="file" id="image-file" accept="image/png,image/jpeg,image/webp"></label>
          <div id="image-panel" hidden>
            <div class="mask-wrap" id="mask-wrap"><img id="image-preview" alt="输入图像 (input picture)"><canvas id="mask-canvas"></canvas></div>
            <div class="hint" id="image-size"></div>
            <div class="mask-tools">
              <span class="label">蒙版画笔 (Mask brush)</span>
              <div class="inline">
                <input id="brush-size" type="range" min="2" max="256" value="32" title="画笔大小 (brush size)" aria-label="画笔大小 (brush size)">
                <button type="button" id="brush-eraser" class="chip" aria-pressed="false">橡皮擦 (Eraser)</button>
                <button type="button" id="mask-invert" class="chip">反转 (Invert)</button>
                <button type="button" id="mask-clear" class="chip">清空 (Clear)</button>
              </div>
              <div class="hint">涂白的区域会被重绘 (painted = repainted); 不涂蒙版即图生图 (no mask: img2img)</div>
            </div>
            <div class="field" id="strength-field" data-kinds="base">
              <label for="strength">重绘强度 (Strength): <output id="strength-value">0.6</output></label>
              <input id="strength" type="range" min="0.05" max="1" step="0.05" value="0.6">
            </div>
            <div class="row">
              <div class="field"><label for="mask-blur">蒙版模糊 (Mask blur, px)</label><input id="mask-blur" type="number" min="0" max="256" value="0"></div>
            </div>
            <span class="label">扩图边距 (Outpaint margins, px)</span>
            <div class="row4">
              <input id="outpaint-left" type="number" min="0" step="16" value="0" title="左 (left)" aria-label="左 (left)">
              <input id="outpaint-top" type="number" min="0" step="16" value="0" title="上 (top)" aria-label="上 (top)">
              <input id="outpaint-right" type="number" min="0" step="16" value="0" title="右 (right)" aria-label="右 (right)">
              <input id="outpaint-bottom" type="number" min="0" step="16" value="0" title="下 (bottom)" aria-label="下 (bottom)">
            </div>
            <div class="hint">左 / 上 / 右 / 下 (left / top / right / bottom)</div>
          </div>
        </section>
        <section id="control-section" data-kinds="control" hidden>
          <div class="head-row">
            <span class="label">控制图 (Control picture: edges or depth)</span>
            <button type="button" id="control-clear" class="link" hidden>移除 (Remove)</button>
          </div>
          <label class="drop" id="control-drop">拖放或选择控制图 (drop or choose)<input type="file" id="control-file" accept="image/png,image/jpeg,image/webp"></label>
          <img id="control-preview" class="cond-preview" alt="控制图 (control picture)" hidden>
          <label class="check"><input type="checkbox" id="canny"> Canny 边缘提取 (make edges with Canny)</label>
          <div class="row" id="canny-fields" hidden>
            <div class="field"><label for="canny-low">低阈值 (Low)</label><input id="canny-low" type="number" min="0" max="2040" value="50"></div>
            <div class="field"><label for="canny-high">高阈值 (High)</label><input id="canny-high" type="number" min="0" max="2040" value="200"></div>
          </div>
        </section>
        <section id="reference-section" data-kinds="kontext" hidden>
          <div class="head-row">
            <span class="label">参考图 (Kontext reference picture)</span>
            <button type="button" id="reference-clear" class="link" hidden>移除 (Remove)</button>
          </div>
          <label class="drop" id="reference-drop">拖放或选择参考图 (drop or choose)<input type="file" id="reference-file" accept="image/png,image/jpeg,image/webp"></label>
          <img id="reference-preview" class="cond-preview" alt="参考图 (reference)" hidden>
          <label for="reference-resize">参考图尺寸 (Reference size)</label>
          <select id="reference-resize"><option value="auto">自动 (auto: preferred Kontext size)</option><option value="off">原尺寸 (off: its own size)</option></select>
        </section>
      </div>
"""#

    static let conditioningStyle = #"""
.cond section { margin-top: 6px; }
.drop { display: block; border: 2px dashed var(--line); border-radius: 10px; padding: 14px; text-align: center; color: var(--muted); font-weight: 400; cursor: pointer; background: #fbfbfd; }
.drop.over { border-color: var(--accent); background: var(--accent-soft); }
.drop input[type=file] { display: block; margin: 8px auto 0; font-size: .8rem; }
.mask-wrap { position: relative; margin-top: 8px; line-height: 0; border-radius: 8px; overflow: hidden; background: #eceef3; }
.mask-wrap img { width: 100%; display: block; }
.mask-wrap canvas { position: absolute; inset: 0; width: 100%; height: 100%; opacity: .55; cursor: crosshair; touch-action: none; }
.mask-tools .inline { align-items: center; flex-wrap: wrap; }
.mask-tools input[type=range] { flex: 1; min-width: 90px; margin-top: 0; }
.chip[aria-pressed=true] { background: var(--accent-soft); border-color: var(--accent); }
.row4 { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }
.cond-preview { max-width: 100%; max-height: 220px; margin-top: 8px; border-radius: 8px; }
.check { display: flex; gap: 8px; align-items: center; font-weight: 400; }
select { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 8px; background: #fbfbfd; }
.item .use, #use-result { margin-left: 8px; }
.item .del { color: var(--bad); }
"""#

    /// Runs inside the page script (its helpers `$`, `fit`, `markAspect`, `showError` are in scope).
    static let conditioningScript = #"""
// ---- pictures: img2img / inpainting / outpainting / control / Kontext ----------------------
const cond = (() => {
  let kind = 'base';
  const slots = { image: null, control: null, reference: null };   // {blob, url, width, height}
  let eraser = false, painting = false, last = null, masked = false;
  const canvas = $('mask-canvas');
  const ctx = canvas.getContext('2d');

  function setKind(k) {
    kind = k || 'base';
    for (const el of document.querySelectorAll('#cond [data-kinds]')) el.hidden = !el.dataset.kinds.split(' ').includes(kind);
  }
  function targetSlot() { return kind === 'control' ? 'control' : kind === 'kontext' ? 'reference' : 'image'; }

  function loadPicture(blob) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = () => resolve({ blob, url, img, width: img.naturalWidth, height: img.naturalHeight });
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('不是可读取的图像 (not a readable picture)')); };
      img.src = url;
    });
  }
  function sizeFields(w, h) {   // the output takes the input's size (floored to 16, within the limit)
    const [a, b] = fit(Math.max(16, w - w % 16), Math.max(16, h - h % 16));
    $('width').value = a; $('height').value = b; markAspect();
  }
  function grownSize() {
    const s = slots.image; if (!s) return;
    const m = margins() || [0, 0, 0, 0];
    sizeFields(s.width + m[0] + m[2], s.height + m[1] + m[3]);
  }
  async function setSlot(role, blob) {
    let p;
    try { p = await loadPicture(blob); } catch (e) { showError(`${role}: ${e.message}`); return; }
    if (slots[role]) URL.revokeObjectURL(slots[role].url);
    slots[role] = p;
    $(role + '-clear').hidden = false;
    if (role === 'image') {
      $('image-preview').src = p.url; $('image-panel').hidden = false;
      canvas.width = p.width; canvas.height = p.height; clearMask();
      $('image-size').textContent = `${p.width}×${p.height}`;
      grownSize();
    } else {
      const prev = $(role + '-preview'); prev.src = p.url; prev.hidden = false;
      if (role === 'control') sizeFields(p.width, p.height);
      else sizeFields(p.width, p.height);
    }
  }
  function clearSlot(role) {
    if (slots[role]) URL.revokeObjectURL(slots[role].url);
    slots[role] = null;
    $(role + '-clear').hidden = true;
    if (role === 'image') { $('image-panel').hidden = true; $('image-preview').removeAttribute('src'); clearMask(); }
    else { $(role + '-preview').hidden = true; $(role + '-preview').removeAttribute('src'); }
    $(role + '-file').value = '';
  }
  for (const role of ['image', 'control', 'reference']) {
    const drop = $(role + '-drop');
    $(role + '-file').addEventListener('change', (e) => { const f = e.target.files[0]; if (f) setSlot(role, f); });
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault(); drop.classList.remove('over');
      const f = e.dataTransfer.files[0]; if (f) setSlot(role, f);
    });
    $(role + '-clear').addEventListener('click', () => clearSlot(role));
  }

  // The mask: white strokes (alpha = how much) on a transparent canvas at the picture's own size.
  function clearMask() { ctx.clearRect(0, 0, canvas.width, canvas.height); masked = false; }
  function point(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  }
  function stroke(from, to) {
    ctx.globalCompositeOperation = eraser ? 'destination-out' : 'source-over';
    ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff';
    ctx.lineWidth = Number($('brush-size').value); ctx.lineCap = 'round'; ctx.lineJoin = 'round';
    ctx.beginPath(); ctx.moveTo(from[0], from[1]); ctx.lineTo(to[0], to[1]); ctx.stroke();
    if (!eraser) masked = true;
  }
  canvas.addEventListener('pointerdown', (e) => { painting = true; canvas.setPointerCapture(e.pointerId); last = point(e); stroke(last, last); });
  canvas.addEventListener('pointermove', (e) => { if (!painting) return; const p = point(e); stroke(last, p); last = p; });
  for (const t of ['pointerup', 'pointercancel']) canvas.addEventListener(t, () => { painting = false; });
  $('brush-eraser').addEventListener('click', () => { eraser = !eraser; $('brush-eraser').setAttribute('aria-pressed', String(eraser)); });
  $('mask-clear').addEventListener('click', clearMask);
  $('mask-invert').addEventListener('click', () => {
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < d.data.length; i += 4) { d.data[i] = d.data[i + 1] = d.data[i + 2] = 255; d.data[i + 3] = 255 - d.data[i + 3]; }
    ctx.putImageData(d, 0, 0);
    masked = true;
  });
  function hasMask() {
    if (!masked) return false;
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) return true;
    return false;
  }
  function maskDataURL() {   // white = repaint on black, the picture's size
    const out = document.createElement('canvas'); out.width = canvas.width; out.height = canvas.height;
    const o = out.getContext('2d');
    o.fillStyle = '#000'; o.fillRect(0, 0, out.width, out.height); o.drawImage(canvas, 0, 0);
    return out.toDataURL('image/png');
  }
  async function loadMask(blob) {   // a stored mask (white = repaint) back onto the canvas
    const p = await loadPicture(blob);
    const tmp = document.createElement('canvas'); tmp.width = canvas.width; tmp.height = canvas.height;
    const t = tmp.getContext('2d'); t.drawImage(p.img, 0, 0, tmp.width, tmp.height);
    const d = t.getImageData(0, 0, tmp.width, tmp.height);
    for (let i = 0; i < d.data.length; i += 4) { const l = d.data[i]; d.data[i] = d.data[i + 1] = d.data[i + 2] = 255; d.data[i + 3] = l; }
    ctx.putImageData(d, 0, 0); masked = true;
    URL.revokeObjectURL(p.url);
  }

  function margins() {
    const m = ['left', 'top', 'right', 'bottom'].map((s) => Number($('outpaint-' + s).value) || 0);
    return m.some((v) => v !== 0) ? m : null;
  }
  for (const s of ['left', 'top', 'right', 'bottom']) $('outpaint-' + s).addEventListener('input', grownSize);
  $('strength').addEventListener('input', () => { $('strength-value').textContent = $('strength').value; });
  $('canny').addEventListener('change', () => { $('canny-fields').hidden = !$('canny').checked; });

  function dataURL(blob) {
    return new Promise((resolve, reject) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.onerror = reject; r.readAsDataURL(blob); });
  }
  async function pngDataURL(slot) {   // PNG as it is; other formats re-encoded as PNG by the browser
    if (slot.blob.type === 'image/png') return dataURL(slot.blob);
    const c = document.createElement('canvas'); c.width = slot.width; c.height = slot.height;
    c.getContext('2d').drawImage(slot.img, 0, 0);
    return c.toDataURL('image/png');
  }

  // The job's picture fields (only those the model's kind takes).
  async function fields() {
    const f = {};
    if ((kind === 'base' || kind === 'fill') && slots.image) {
      f.image = await pngDataURL(slots.image);
      if (hasMask()) f.mask = maskDataURL();
      if (kind === 'base') f.strength = $('strength').value;
      const blur = $('mask-blur').value.trim();
      if (blur && blur !== '0') f.mask_blur = blur;
      const m = margins(); if (m) f.outpaint = m;
    }
    if (kind === 'control' && slots.control) {
      f.control = await pngDataURL(slots.control);
      if ($('canny').checked) f.control_preprocess = { canny: [$('canny-low').value.trim(), $('canny-high').value.trim()] };
    }
    if (kind === 'kontext' && slots.reference) {
      f.reference = await pngDataURL(slots.reference);
      f.reference_resize = $('reference-resize').value;
    }
    return f;
  }

  async function fetchBlob(url) { const r = await fetch(url); if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.blob(); }
  async function useAsInput(url) {
    try { await setSlot(targetSlot(), await fetchBlob(url)); } catch (e) { showError('无法载入图像 (cannot load the picture): ' + e.message); }
    $('cond').scrollIntoView({ behavior: 'smooth', block: 'center' });
  }
  // A history entry's pictures and options back into the form.
  async function restore(c) {
    for (const role of ['image', 'control', 'reference']) clearSlot(role);
    for (const s of ['left', 'top', 'right', 'bottom']) $('outpaint-' + s).value = 0;
    $('mask-blur').value = 0; $('canny').checked = false; $('canny-fields').hidden = true;
    if (!c) return;
    const inputs = c.inputs || {};
    try {
      for (const role of ['image', 'control', 'reference']) if (inputs[role] && inputs[role].url) await setSlot(role, await fetchBlob(inputs[role].url));
      if (inputs.mask && inputs.mask.url && slots.image) await loadMask(await fetchBlob(inputs.mask.url));
    } catch (e) { showError('无法载入输入图像 (cannot load the input pictures): ' + e.message); }
    if (c.strength != null) { $('strength').value = c.strength; $('strength-value').textContent = c.strength; }
    $('mask-blur').value = c.mask_blur || 0;
    if (c.outpaint) ['left', 'top', 'right', 'bottom'].forEach((s, i) => { $('outpaint-' + s).value = c.outpaint[i]; });
    if (c.control_preprocess && c.control_preprocess.canny) {
      $('canny').checked = true; $('canny-fields').hidden = false;
      $('canny-low').value = c.control_preprocess.canny[0]; $('canny-high').value = c.control_preprocess.canny[1];
    }
    if (c.reference_resize) $('reference-resize').value = c.reference_resize;
  }
  setKind('base');
  return { setKind, fields, useAsInput, restore, get kind() { return kind; }, hasMask };
})();
window.majicfluxPictures = cond;   // for scripts and the browser tests (the element #cond is window.cond)
"""#
}
