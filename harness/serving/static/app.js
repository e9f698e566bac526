"use strict";
// The served trial's dataset (GET /info) decides what the page asks for: a drawing on #pad for a
// drawn one (MNIST's digits), an image file chosen or dropped on #drop for photographs (Fashion-MNIST).
// Either goes to POST /predict as a PNG data URL, and the server crops, scales and centres it the way
// the dataset's images were made (the same code as `python -m harness predict`); the page only shrinks
// a large photo so that it fits the server's 1 MB limit.
// window.lastPrediction keeps the last {request, response} (for tests and the
// curious); document.body.dataset.state says empty | pending | ready | error.

const LINE = 20;        // stroke width on the 280px pad: about 2 pixels of the 28, like MNIST's pens
const DEBOUNCE_MS = 150; // while drawing, ask at most about this often
const PHOTO_SIDE = 400;  // px: a photo's longer side is shrunk to this; as PNG it is then well under 1 MB

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const seen = document.getElementById("seen").getContext("2d");
const drop = document.getElementById("drop");
const file = document.getElementById("file");
const photo = document.getElementById("photo");
const named = document.getElementById("class");
const bars = document.getElementById("bars");
const error = document.getElementById("error");

let last = null;    // the previous point of the stroke being drawn
let inked = false;  // nothing to ask about until something is drawn
let timer = null;   // a pending predict() while drawing
let latest = 0;     // answers to anything but the newest request (or from before Clear) are dropped
window.lastPrediction = null;

function setState(state) { document.body.dataset.state = state; }

function setup(info) {
  const dataset = info.dataset;
  dataset.classes.forEach((name, k) => {
    const li = document.createElement("li");
    li.dataset.label = k;
    li.innerHTML = `<span class="name"></span><div class="bar"><div class="fill"></div></div><span class="pct"></span>`;
    li.querySelector(".name").textContent = name;
    bars.append(li);
  });
  document.body.dataset.drawn = dataset.drawn;
  pad.hidden = !dataset.drawn;
  drop.hidden = dataset.drawn;
  if (!dataset.drawn) {
    document.getElementById("title").textContent = document.title = `What is it? · ${dataset.title}`;
    document.getElementById("hint").textContent = "one item, plain background";
  }
  document.getElementById("seen-caption").textContent = `what the model sees (28×28, as ${dataset.title})`;
  const acc = info.test_accuracy == null ? "not recorded" : `${(info.test_accuracy * 100).toFixed(2)}%`;
  document.getElementById("trial").textContent =
    `trial ${info.trial_id} of ${info.experiment} (${info.family}, ${dataset.title}) · test accuracy ${acc}`;
}

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
  named.textContent = answer ? answer.class : "–";
  for (const li of bars.children) {
    const p = answer ? answer.probabilities[li.dataset.label] : 0;
    li.dataset.probability = p;
    li.classList.toggle("top", !!answer && answer.label === Number(li.dataset.label));
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

function failed(message) {
  error.textContent = message;
  setState("error");
}

async function ask(image) {
  const id = ++latest;
  const request = JSON.stringify({ image });
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
    if (id === latest) failed(`could not predict: ${e.message}`);
  }
}

function predict() {
  clearTimeout(timer);
  timer = null;
  if (inked) ask(pad.toDataURL("image/png"));
}

// The file as a PNG data URL, on white (as the server treats transparency), shrunk to PHOTO_SIDE.
function asPng(source) {
  const scale = Math.min(1, PHOTO_SIDE / Math.max(source.naturalWidth, source.naturalHeight));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(source.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(source.naturalHeight * scale));
  const c = canvas.getContext("2d");
  c.fillStyle = "#fff";
  c.fillRect(0, 0, canvas.width, canvas.height);
  c.drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/png");
}

function upload(chosen) {
  if (!chosen) return;
  const reader = new FileReader();  // a data: URL, which the page's Content-Security-Policy allows
  reader.onerror = () => failed(`could not read ${chosen.name}`);
  reader.onload = () => {
    const img = new Image();
    img.onerror = () => failed(`${chosen.name} is not an image this browser can read`);
    img.onload = () => {
      const png = asPng(img);
      photo.src = png;
      photo.hidden = false;
      ask(png);
    };
    img.src = reader.result;
  };
  reader.readAsDataURL(chosen);
}

function clear() {
  clearTimeout(timer);
  timer = null;
  latest++;
  inked = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  file.value = "";
  photo.hidden = true;
  photo.removeAttribute("src");
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
file.addEventListener("change", () => upload(file.files[0]));
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault();
  drop.classList.remove("over");
  upload(e.dataTransfer.files[0]);
});
document.getElementById("clear").addEventListener("click", clear);

fetch("/info").then(r => r.json()).then(setup)
  .catch(() => { document.getElementById("trial").textContent = "could not load /info"; });

clear();
