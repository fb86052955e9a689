import Foundation
import Models

extension ConsolePage {
    /// The form's advanced settings (closed by default): the step cache (First-Block-Cache,
    /// `cache_threshold`), off unless ticked; ticked, the job gets the threshold shown, which starts
    /// at `StepCacheAdvice.recommended`. Then the T5 length (`sequenceLengthHTML`) and the hires fix
    /// (`hiresHTML`).
    static let advancedHTML = #"""
      <details id="advanced" class="advanced">
        <summary>高级设置 (Advanced settings)</summary>
        <label class="check"><input type="checkbox" id="step-cache"> 步骤缓存 (Step cache: First-Block-Cache, faster)</label>
        <div class="field" id="step-cache-field" hidden>
          <label for="cache-threshold">缓存阈值 (Cache threshold)</label>
          <input id="cache-threshold" type="number" min="0" max="1" step="0.01" value="/*CACHE_RECOMMENDED*/">
          <div class="hint">越大越快，画面变化越多；推荐 (recommended) /*CACHE_RECOMMENDED*/ (larger: faster, the picture changes more)</div>
        </div>
/*SEQUENCE_LENGTH_FIELD*/
/*HIRES_FIELDS*/
      </details>
"""#.replacingOccurrences(of: "/*CACHE_RECOMMENDED*/", with: "\(StepCacheAdvice.recommended)")
        .replacingOccurrences(of: "/*HIRES_FIELDS*/", with: hiresHTML)
        .replacingOccurrences(of: "/*SEQUENCE_LENGTH_FIELD*/", with: sequenceLengthHTML)

    static let advancedStyle = #"""
.advanced { margin-top: 12px; border: 1px solid var(--line); border-radius: 8px; padding: 6px 10px; background: #fbfbfd; }
.advanced summary { cursor: pointer; font-weight: 600; font-size: .9rem; }
.advanced .check { margin-top: 8px; }
"""#

    /// Runs inside the page script (`$` is in scope): what a job sends (`fields`) and what reusing a
    /// history entry restores (`restore`, given the entry's `cache_threshold`, absent when off).
    static let advancedScript = #"""
// ---- advanced settings: step cache -----------------------------------------------------------
const stepCache = (() => {
  const box = $('step-cache'), threshold = $('cache-threshold');
  const recommended = threshold.defaultValue;
  function show() { $('step-cache-field').hidden = !box.checked; }
  box.addEventListener('change', show);
  return {
    fields() { return box.checked ? { cache_threshold: threshold.value.trim() } : {}; },
    restore(t) {
      box.checked = typeof t === 'number' && t > 0;
      threshold.value = box.checked ? String(t) : recommended;
      if (box.checked) $('advanced').open = true;
      show();
    },
  };
})();
"""#
}
