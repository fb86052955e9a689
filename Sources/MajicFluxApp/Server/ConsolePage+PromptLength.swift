import Foundation
import Models

extension ConsolePage {
    /// The token count under a prompt box (`field`: "prompt" or "negative"), filled by
    /// `promptLengthScript`.
    static func promptLengthHTML(_ field: String) -> String {
        #"<div id="\#(field)-tokens" class="hint tokens" aria-live="polite"></div>"#
    }

    /// The T5 length field of the advanced settings (`max_sequence_length`): the served model's
    /// default until the user changes it, so a prompt that T5 cuts can be read whole.
    static let sequenceLengthHTML = #"""
        <div class="field">
          <label for="max-seq">T5 长度 (T5 tokens read)</label>
          <input id="max-seq" type="number" min="1" max="/*MAX_SEQ*/" step="1" value="/*SEQ*/">
          <div class="hint">提示词超出此长度的部分不起作用；越长越慢 (words past it have no effect; longer is slower)</div>
        </div>
"""#
        .replacingOccurrences(of: "/*MAX_SEQ*/", with: "\(GenerationLimits.sequenceLengths.upperBound)")
        .replacingOccurrences(of: "/*SEQ*/", with: "\(ModelPreset.fluxDev.sequenceLength)")

    static let promptLengthStyle = #"""
.tokens:empty { display: none; }
.tokens.over { color: var(--bad); font-weight: 600; }
"""#

    /// Runs inside the page script (`$` is in scope). As the user types (300 ms after the last key),
    /// asks `POST /api/prompt-length` how many tokens each encoder reads and shows it; when T5 cuts
    /// the prompt, the line turns red and says that the rest has no effect. `promptTokens.update()`
    /// is called wherever the script itself changes a prompt (styles, trigger words, reuse). It also owns
    /// the T5 length field: `fields()` for a job, `restore(n)` on reuse, `setDefault(n)` from the status.
    static let promptLengthScript = #"""
// ---- prompt length: what the text encoders read ------------------------------------------------
const promptTokens = (() => {
  const timers = {}, asked = {}, length = $('max-seq');
  let edited = false;
  async function count(field) {
    const out = $(field + '-tokens'), text = $(field).value;
    const n = asked[field] = (asked[field] || 0) + 1;
    if (!text.trim()) { out.textContent = ''; out.classList.remove('over'); out.title = ''; return; }
    let a;
    try {
      const r = await fetch('/api/prompt-length', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                    body: JSON.stringify({ prompt: text, max_sequence_length: length.value.trim() }) });
      if (!r.ok) { if (n === asked[field]) { out.textContent = ''; } return; }
      a = await r.json();
    } catch (e) {
      // Not counted (the server is away): no stale count of other words; the next good status counts again.
      if (n === asked[field]) { out.textContent = ''; out.classList.remove('over'); out.title = ''; }
      return;
    }
    if (n !== asked[field]) return;  // a newer count is on its way
    let line = `T5 ${a.t5_tokens}/${a.t5_limit} · CLIP ${a.clip_tokens}/${a.clip_limit} 词元 (tokens)`;
    if (a.t5_truncated) {
      line += ` — 超出 ${a.t5_limit} 的部分不起作用 (the words past ${a.t5_limit} T5 tokens have no effect`;
      line += a.t5_limit < Number(length.max) ? '; 可在高级设置中调大 T5 长度: raise "T5 tokens read" in Advanced settings)' : ')';
    }
    out.textContent = line;
    out.classList.toggle('over', a.t5_truncated);
    out.title = a.notice || '';
  }
  function later(field) { clearTimeout(timers[field]); timers[field] = setTimeout(() => count(field), 300); }
  function update() { later('prompt'); later('negative'); }
  for (const field of ['prompt', 'negative']) $(field).addEventListener('input', () => later(field));
  length.addEventListener('input', () => { edited = true; update(); });
  return {
    update,
    fields() { return { max_sequence_length: length.value.trim() }; },
    restore(n) { if (typeof n === 'number') { length.value = String(n); edited = true; } update(); },
    setDefault(n) { if (!edited && typeof n === 'number') { length.value = String(n); update(); } },
  };
})();
"""#
}
