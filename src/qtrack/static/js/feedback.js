// Feedback an operator notices without looking: a colour flash, a beep, a buzz.
// ok: one short high beep; queued: two short beeps; unknown: a middle tone; refused: a long
// low buzz. Sound needs a user gesture first; a scanner's keystrokes count as one.

const SOUNDS = {
  ok: [[1320, 0.08]],
  queued: [[990, 0.07], [990, 0.07]],
  unknown: [[520, 0.18]],
  refused: [[196, 0.35]],
};
const VIBRATIONS = { ok: 40, queued: [40, 60, 40], unknown: [120, 60, 120], refused: [300, 100, 300] };

let audio = null;

function beep(kind) {
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  if (!AudioCtx) return;
  try {
    audio = audio || new AudioCtx();
    if (audio.state === "suspended") audio.resume();
    let at = audio.currentTime;
    for (const [frequency, seconds] of SOUNDS[kind]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = kind === "refused" ? "square" : "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.2, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + seconds);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + seconds);
      at += seconds + 0.05;
    }
  } catch (err) {
    /* no sound on this device: the flash and the text still say it */
  }
}

/** Signal an outcome: "ok", "queued", "unknown" or "refused". */
export function signal(kind) {
  const root = document.documentElement;
  root.classList.remove("flash-ok", "flash-queued", "flash-unknown", "flash-refused");
  void root.offsetWidth; // restart the animation when the same outcome comes twice
  root.classList.add(`flash-${kind}`);
  beep(kind);
  if (navigator.vibrate) {
    try { navigator.vibrate(VIBRATIONS[kind]); } catch (err) { /* not allowed here */ }
  }
}
