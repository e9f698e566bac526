"use strict";
// Draw on #pad; the drawing goes to POST /predict as a PNG data URL, and the
// server crops, scales and centres it the way MNIST digits were made (the same
// code as `python -m harness predict`), so the page itself does no image work.
// window.lastPrediction keeps the last {request, response} (for tests and the
// curious); document.body.dataset.state says empty | pending | ready | error.

const LINE = 20;        // stroke width on the 280px pad: about 2 pixels of the 28, like MNIST's pens
const DEBOUNCE_MS = 150; // while drawing, ask at most about this often

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const seen = document.getElementById("seen").getContext("2d");
const digit = document.getElementById("digit");
const bars = document.getElementById("bars");
const error = document.getElementById("error");

let last = null;    // the previous point of the stroke being drawn
let inked = false;  // nothing to ask about until something is drawn
let timer = null;   // a pending predict() while drawing
let latest = 0;     // answers to anything but the newest request (or from before Clear) are dropped
window.lastPrediction = null;

for (let d = 0; d < 10; d++) {
  const li = document.createElement("li");
  li.dataset.digit = d;
  li.innerHTML = `<span>${d}</span><div class="bar"><div class="fill"></div></div><span class="pct"></span>`;
  bars.append(li);
}

function setState(state) { document.body.dataset.state = state; }

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function line(from, to) {
  Object.assign(ctx, { strokeStyle: "#fff", lineWidth: LINE, lineCap: "round", lineJoin: "round" });
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

function show(answer) {
  digit.textContent = answer ? answer.digit : "–";
  for (const li of bars.children) {
    const p = answer ? answer.probabilities[li.dataset.digit] : 0;
    li.dataset.probability = p;
    li.classList.toggle("top", !!answer && answer.digit === Number(li.dataset.digit));
    li.querySelector(".fill").style.width = `${p * 100}%`;
    li.querySelector(".pct").textContent = answer ? `${(p * 100).toFixed(1)}%` : "";
  }
  seen.clearRect(0, 0, 28, 28);
  if (answer && answer.input) {
    const img = seen.createImageData(28, 28);
    answer.input.flat().forEach((v, i) => { img.data.set([v, v, v, 255], i * 4); });
    seen.putImageData(img, 0, 0);
  }
}

async function predict() {
  clearTimeout(timer);
  timer = null;
  if (!inked) return;
  const id = ++latest;
  const request = JSON.stringify({ image: pad.toDataURL("image/png") });
  setState("pending");
  try {
    const r = await fetch("/predict", { method: "POST", headers: { "Content-Type": "application/json" }, body: request });
    const response = await r.json();
    if (id !== latest) return;
    if (!r.ok) throw new Error(response.error || r.statusText);
    window.lastPrediction = { request, response };
    error.textContent = "";
    show(response);
    setState("ready");
  } catch (e) {
    if (id !== latest) return;
    error.textContent = `could not predict: ${e.message}`;
    setState("error");
  }
}

function clear() {
  clearTimeout(timer);
  timer = null;
  latest++;
  inked = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  window.lastPrediction = null;
  error.textContent = "";
  show(null);
  setState("empty");
}

pad.addEventListener("pointerdown", e => {
  if (e.button !== 0) return;
  pad.setPointerCapture(e.pointerId);
  last = point(e);
  line(last, last);
  inked = true;
  e.preventDefault();
});
pad.addEventListener("pointermove", e => {
  if (!last) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  for (const ev of events.length ? events : [e]) {
    const p = point(ev);
    line(last, p);
    last = p;
  }
  if (timer === null) timer = setTimeout(predict, DEBOUNCE_MS);
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { if (last) { last = null; predict(); } });
}
document.getElementById("clear").addEventListener("click", clear);

fetch("/info").then(r => r.json()).then(info => {
  const acc = info.test_accuracy == null ? "not recorded" : `${(info.test_accuracy * 100).toFixed(2)}%`;
  document.getElementById("trial").textContent =
    `trial ${info.trial_id} of ${info.experiment} (${info.family}) · test accuracy ${acc}`;
}).catch(() => { document.getElementById("trial").textContent = "could not load /info"; });

clear();
