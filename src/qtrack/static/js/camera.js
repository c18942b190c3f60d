// Camera scanning: the browser's BarcodeDetector where it exists, otherwise frames are sent
// to the server (/api/v1/scan/decode) a few times a second. Browsers allow the camera only
// in a secure context: https, or http on localhost.

const WANTED = ["qr_code", "data_matrix", "ean_13", "ean_8", "upc_a", "upc_e", "code_128"];
// AIM symbology identifiers where the format alone says them (EAN/UPC); for QR and Data
// Matrix the detector cannot tell GS1 from plain, so the resolver decides from the content.
const SYMBOLOGY = { ean_13: "]E0", ean_8: "]E4", upc_a: "]E0", upc_e: "]E0" };
const LOCAL_INTERVAL_MS = 150;
const SERVER_INTERVAL_MS = 400;
const REPEAT_MS = 2500;
const FRAME_WIDTH = 640;

export function cameraProblem() {
  if (!window.isSecureContext) {
    return (
      `The camera works only over https or on localhost, and this page is at ${location.origin}. ` +
      "Open qtrack at its https address, or use a keyboard-wedge scanner."
    );
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return "This browser cannot use a camera here. Use a keyboard-wedge scanner or type the code.";
  }
  return null;
}

export function createCamera({ video, note, startButton, stopButton, onCode, csrf }) {
  let stream = null;
  let timer = null;
  let detector = null;
  let canvas = null;
  let last = { text: "", at: 0 };
  let useServer = false;

  const say = (text) => { note.textContent = text; };

  function found(text, symbology) {
    const now = Date.now();
    if (text === last.text && now - last.at < REPEAT_MS) return; // still in front of the lens
    last = { text, at: now };
    onCode(text, symbology);
  }

  async function detectLocally() {
    const codes = await detector.detect(video);
    for (const code of codes) found(code.rawValue, SYMBOLOGY[code.format] || null);
  }

  async function detectOnServer() {
    if (!video.videoWidth) return;
    canvas = canvas || document.createElement("canvas");
    const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const frame = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
    if (!frame) return;
    let response;
    try {
      response = await fetch("/api/v1/scan/decode", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": csrf(), Accept: "application/json" },
        body: frame,
      });
    } catch (err) {
      say("No network: the camera needs the server to read codes in this browser. Use a scanner meanwhile.");
      return;
    }
    if (response.status === 404 || response.status === 405) {
      say("This server cannot read camera pictures, and this browser cannot either. Use a scanner or type the code.");
      stop();
      return;
    }
    if (!response.ok) return;
    const body = await response.json();
    for (const symbol of body.symbols || []) found(symbol.text, symbol.symbology || null);
  }

  function loop() {
    const interval = useServer ? SERVER_INTERVAL_MS : LOCAL_INTERVAL_MS;
    timer = setTimeout(async () => {
      if (!stream) return;
      try {
        await (useServer ? detectOnServer() : detectLocally());
      } catch (err) {
        /* one bad frame; try the next */
      }
      if (stream) loop();
    }, interval);
  }

  async function start() {
    const problem = cameraProblem();
    if (problem) {
      say(problem);
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } },
        audio: false,
      });
    } catch (err) {
      say(err && err.name === "NotAllowedError"
        ? "The camera was not allowed. Allow it in the browser's site settings to scan with it."
        : "No camera could be opened.");
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play().catch(() => {});
    detector = null;
    if ("BarcodeDetector" in window) {
      try {
        const supported = await window.BarcodeDetector.getSupportedFormats();
        const formats = WANTED.filter((f) => supported.includes(f));
        if (formats.includes("qr_code")) detector = new window.BarcodeDetector({ formats });
      } catch (err) {
        detector = null;
      }
    }
    useServer = detector === null;
    say(useServer ? "Reading codes on the server. Hold the code steady in the frame." : "Hold the code in the frame.");
    startButton.hidden = true;
    stopButton.hidden = false;
    loop();
  }

  function stop() {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    startButton.hidden = false;
    stopButton.hidden = true;
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  document.addEventListener("visibilitychange", () => { if (document.hidden) stop(); });
  const problem = cameraProblem();
  if (problem) say(problem);
  return { start, stop };
}
