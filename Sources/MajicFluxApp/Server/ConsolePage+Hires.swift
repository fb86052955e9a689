import Foundation
import Models

extension ConsolePage {
    /// The hires fix in the advanced settings: off unless ticked; ticked, the job sends
    /// `hires: {scale, upscaler, strength, steps}` (`JobHires`), the picture coming out `scale` times
    /// the width and height.
    static let hiresHTML = #"""
        <label class="check"><input type="checkbox" id="hires"> 高清修复 (Hires fix: upscale, then refine)</label>
        <div id="hires-fields" hidden>
          <div class="field">
            <label for="hires-scale">放大倍数 (Upscale by)</label>
            <input id="hires-scale" type="number" min="1" max="4" step="0.05" value="2">
          </div>
          <div class="field">
            <label for="hires-upscaler">放大算法 (Upscaler)</label>
            <select id="hires-upscaler">/*UPSCALERS*/</select>
          </div>
          <div class="field">
            <label for="hires-strength">重绘幅度 (Denoising strength)</label>
            <input id="hires-strength" type="number" min="0.05" max="1" step="0.05" value="/*STRENGTH*/">
          </div>
          <div class="field">
            <label for="hires-steps">高清步数 (Hires steps, 0 = same as steps)</label>
            <input id="hires-steps" type="number" min="0" max="/*MAX_STEPS*/" step="1" value="0">
          </div>
          <div class="hint" id="hires-size"></div>
        </div>
"""#
        .replacingOccurrences(of: "/*UPSCALERS*/", with: HiresUpscaler.all.map { "<option>\($0.name)</option>" }.joined())
        .replacingOccurrences(of: "/*STRENGTH*/", with: GeneratedImage.number(HiresFix.defaultStrength))
        .replacingOccurrences(of: "/*MAX_STEPS*/", with: "\(GenerationLimits.steps.upperBound)")

    /// Runs inside the page script: what a job sends (`fields`), what reusing an entry restores
    /// (`restore(hires, width)`), and the final size shown under the fields.
    static let hiresScript = #"""
// ---- advanced settings: hires fix ------------------------------------------------------------
const hiresFix = (() => {
  const box = $('hires'), scale = $('hires-scale'), upscaler = $('hires-upscaler'), strength = $('hires-strength'), steps = $('hires-steps');
  function show() {
    $('hires-fields').hidden = !box.checked;
    const s = Number(scale.value), side = (v) => Math.floor(Math.floor(Number(v) * s) / 16) * 16;
    $('hires-size').textContent = s > 0 ? `→ ${side($('width').value)} × ${side($('height').value)}` : '';
  }
  for (const el of [box, scale, $('width'), $('height')]) el.addEventListener('input', show);
  box.addEventListener('change', show);
  return {
    fields() {
      if (!box.checked) return {};
      const h = { scale: scale.value.trim(), upscaler: upscaler.value, strength: strength.value.trim() };
      if (Number(steps.value) > 0) h.steps = steps.value.trim();
      return { hires: h };
    },
    restore(h, width) {
      box.checked = !!h;
      if (h) {
        scale.value = String(h.scale || Math.round(h.width / width * 100) / 100);
        upscaler.value = h.upscaler;
        strength.value = String(h.strength);
        steps.value = String(h.steps || 0);
        $('advanced').open = true;
      }
      show();
    },
  };
})();
"""#
}
