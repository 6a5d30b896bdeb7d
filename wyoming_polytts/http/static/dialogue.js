"use strict";
// The dialogue builder of the admin page: turns of several voices, each on a side, spoken
// as one stereo WAV by POST v1/audio/dialogue; Listen plays it, Download saves it.
// The voice list comes from app.js (the "polytts:voices" event), loaded once for the page.

(() => {
  const byId = (id) => document.getElementById(id);
  const SIDES = [["left", "Left"], ["center", "Center"], ["right", "Right"]];
  const SAMPLES = ["Good morning! Did you sleep well?", "I did, thank you. Is the coffee ready?"];
  const PREFERRED = ["af_heart", "am_michael"];
  let voices = []; // the installed voices: [{name, languages}]
  let made = null; // {key, blob}: the last dialogue spoken, reused until a turn changes

  function node(tag, props = {}, children = []) {
    const el = document.createElement(tag);
    Object.assign(el, props);
    for (const child of children) el.append(child);
    return el;
  }

  function fillVoices(select, wanted) {
    const chosen = wanted || select.value;
    select.replaceChildren(...voices.map((voice) => node("option", {
      value: voice.name, textContent: `${voice.name} (${voice.languages.join(", ")})`,
    })));
    if (voices.some((voice) => voice.name === chosen)) select.value = chosen;
  }

  // A voice for a new turn: the preferred pair first, then one that no turn speaks yet.
  function nextVoice(index) {
    const used = new Set([...document.querySelectorAll(".dialogue-voice")].map((s) => s.value));
    const names = voices.map((voice) => voice.name);
    const preferred = PREFERRED[index];
    if (preferred && names.includes(preferred) && !used.has(preferred)) return preferred;
    return names.find((name) => !used.has(name)) || names[0] || "";
  }

  function addTurn(text = "") {
    const index = document.querySelectorAll(".dialogue-turn").length;
    const voice = node("select", { className: "dialogue-voice" });
    voice.setAttribute("aria-label", "voice");
    fillVoices(voice, nextVoice(index));
    const side = node("select", { className: "dialogue-place" },
      SIDES.map(([value, label]) => node("option", { value, textContent: label })));
    side.setAttribute("aria-label", "side");
    side.value = index % 2 ? "right" : "left";
    const said = node("textarea", { className: "dialogue-text", rows: 2, maxLength: 2000, value: text });
    said.setAttribute("aria-label", "text");
    const remove = node("button", { type: "button", className: "secondary", textContent: "Remove" });
    const row = node("li", { className: "dialogue-turn" }, [
      node("div", { className: "dialogue-who" }, [voice, side, remove]), said,
    ]);
    remove.addEventListener("click", () => row.remove());
    byId("dialogue-turns").append(row);
  }

  function request() {
    const turns = [...document.querySelectorAll(".dialogue-turn")].map((row) => ({
      voice: row.querySelector(".dialogue-voice").value,
      text: row.querySelector(".dialogue-text").value.trim(),
      place: row.querySelector(".dialogue-place").value,
    })).filter((turn) => turn.text);
    return {
      model: "tts-1", turns, pause: Number(byId("dialogue-pause").value), channels: 2,
      response_format: "wav", stream: false,
    };
  }

  // The WAV of the dialogue as it stands, spoken by the server (or the last one, unchanged).
  async function speak(button) {
    const body = request();
    const key = JSON.stringify(body);
    if (made && made.key === key) return made.blob;
    if (!body.turns.length) throw new Error("write what at least one turn says");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "Speaking...";
    try {
      const response = await fetch("v1/audio/dialogue", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: key,
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error((data.error && data.error.message) || `HTTP ${response.status}`);
      }
      made = { key, blob: await response.blob() };
      return made.blob;
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  async function listen() {
    byId("dialogue-error").textContent = "";
    try {
      const blob = await speak(byId("dialogue-listen"));
      const audio = byId("dialogue-audio");
      if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(blob);
      audio.hidden = false;
      await audio.play().catch(() => {});
    } catch (error) {
      byId("dialogue-error").textContent = `Could not speak the dialogue: ${error.message}`;
    }
  }

  async function download() {
    byId("dialogue-error").textContent = "";
    try {
      const url = URL.createObjectURL(await speak(byId("dialogue-download")));
      const link = node("a", { href: url, download: "dialogue.wav" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      byId("dialogue-error").textContent = `Could not speak the dialogue: ${error.message}`;
    }
  }

  document.addEventListener("polytts:voices", (event) => {
    voices = event.detail.filter((voice) => voice.installed);
    byId("dialogue").hidden = !voices.length;
    for (const select of document.querySelectorAll(".dialogue-voice")) fillVoices(select);
    if (voices.length && !document.querySelector(".dialogue-turn")) SAMPLES.forEach(addTurn);
  });

  document.addEventListener("DOMContentLoaded", () => {
    byId("dialogue-add").addEventListener("click", () => addTurn());
    byId("dialogue-listen").addEventListener("click", listen);
    byId("dialogue-download").addEventListener("click", download);
    const pause = byId("dialogue-pause");
    const showPause = () => { byId("dialogue-pause-value").textContent = Number(pause.value).toFixed(1); };
    pause.addEventListener("input", showPause);
    showPause();
  });
})();
