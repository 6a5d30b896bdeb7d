"use strict";
// The admin page: sign in, a gallery of every voice to listen to, a blend builder that saves
// presets, registering a voice clone from a recording, and the pronunciation lexicon.
// Every URL is relative to the page, so it also works under a proxy's path (HA ingress).

const $ = (id) => document.getElementById(id);
let recording = null; // {stop: () => Promise<Blob>} while recording
let recordedBlob = null;
let canTranscribe = false;
let signedIn = false;
let allVoices = [];
let editingPreset = null; // the preset loaded into the builder, saved with PUT
let recordedView = null; // the waveform of the recording to register (static/waveform.js)

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

async function loadSession() {
  const session = await api("GET", "api/session");
  signedIn = session.authenticated;
  $("login").hidden = session.authenticated;
  $("register").hidden = !session.authenticated;
  $("logout").hidden = !session.authenticated || session.via_proxy;
  $("session-state").textContent = session.via_proxy ? "" : session.authenticated ? "signed in" : "";
  $("builder").hidden = !session.authenticated || !session.presets;
  $("listen-hint").hidden = session.authenticated;
  $("url-field").hidden = !session.url_download;
  $("prompt-limits").textContent =
    `${session.min_prompt_seconds} to ${session.max_prompt_seconds} seconds of speech, about 3 is best`;
  canTranscribe = session.transcriber;
  const transcript = document.querySelector("textarea[name=transcript]");
  transcript.required = !canTranscribe;
  transcript.placeholder = canTranscribe ? "filled in from the recording; correct it if needed" : "";
  $("transcript-hint").textContent = canTranscribe ? ""
    : `Type it: automatic transcripts are off (${session.transcriber_missing}).`;
  const select = $("language");
  select.replaceChildren(...session.languages.map((tag) => element("option", { value: tag, textContent: tag })));
  $("lexicon").hidden = !session.lexicon;
  $("lexicon-form").hidden = !session.authenticated;
  const tags = session.lexicon_languages || [];
  const bare = [...new Set(tags.filter((tag) => tag.includes("-")).map((tag) => tag.split("-")[0]))]
    .filter((base) => !tags.includes(base));
  $("lexicon-language").replaceChildren(
    ...bare.map((base) => element("option", { value: base, textContent: `${base} (all variants)` })),
    ...tags.map((tag) => element("option", { value: tag, textContent: tag })));
  return session;
}

async function loadVoices() {
  try {
    const { voices } = await api("GET", "api/voices");
    allVoices = voices;
    document.dispatchEvent(new CustomEvent("polytts:voices", { detail: voices })); // dialogue.js
    const tags = [...new Set(voices.flatMap((voice) => voice.languages))].sort();
    const filter = $("gallery-language");
    const chosenTag = filter.value;
    filter.replaceChildren(element("option", { value: "", textContent: "all" }),
      ...tags.map((tag) => element("option", { value: tag, textContent: tag })));
    if (tags.includes(chosenTag)) filter.value = chosenTag;
    showGallery();
    const speaking = voices.filter((voice) => voice.installed);
    const chosen = $("lexicon-voice").value;
    $("lexicon-voice").replaceChildren(...speaking.map((voice) => element("option", {
      value: voice.name, textContent: `${voice.name} (${voice.languages.join(", ")})`,
    })));
    if (speaking.some((voice) => voice.name === chosen)) $("lexicon-voice").value = chosen;
    fillBlendChoices();
    $("list-error").textContent = "";
  } catch (error) {
    $("list-error").textContent = `Could not load the voices: ${error.message}`;
  }
}

function showGallery() {
  const tag = $("gallery-language").value;
  const shown = allVoices.filter((voice) => !tag || voice.languages.includes(tag));
  $("voices").replaceChildren(...(shown.length ? shown.map(voiceCard)
    : [element("li", { className: "hint", textContent: "No voice speaks this language." })]));
}

const kindOf = (voice) => (voice.preset ? "preset" : voice.clone ? "clone" : voice.engine);

// Speak `text` (or the voice's sample sentence) with a voice, preset or blend, and play it.
async function listen(name, { speed = 1, text = "", audio, button, errors }) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Speaking...";
  errors.textContent = "";
  try {
    const body = { speed, words: true };  // the words come with the audio, to follow
    if (text.trim()) body.text = text.trim();
    const response = await fetch(`api/voices/${encodeURIComponent(name)}/preview`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
    const answer = await response.json();
    const wav = Uint8Array.from(atob(answer.audio), (c) => c.charCodeAt(0));
    if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
    if (audio.waveform) audio.waveform.setWords(answer.timestamps);
    audio.src = URL.createObjectURL(new Blob([wav], { type: answer.audio_format }));
    audio.hidden = false;
    await audio.play().catch(() => {});
  } catch (error) {
    errors.textContent = `Could not speak with ${name}: ${error.message}`;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function button(text, className, onClick) {
  const node = element("button", { type: "button", className, textContent: text });
  node.addEventListener("click", onClick);
  return node;
}

function voiceCard(voice) {
  const kind = kindOf(voice);
  const heard = element("audio", { controls: true, hidden: true, className: "preview" });
  const heardWave = Waveform.forMedia(heard).canvas;
  const actions = [];
  if (voice.installed && signedIn) {
    const play = button("Listen", "secondary listen", () =>
      listen(voice.name, { text: $("sample-text").value, audio: heard, button: play, errors: $("list-error") }));
    actions.push(play);
  }
  if (kind === "preset" && signedIn) {
    actions.push(button("Edit", "secondary", () => editPreset(voice.preset)));
    actions.push(button("Delete", "danger", () => removeVoice(voice.name, `api/presets/${encodeURIComponent(voice.name)}`)));
  }
  if (kind === "clone" && signedIn) {
    actions.push(button("Delete", "danger", () => removeVoice(voice.name, `api/voices/${encodeURIComponent(voice.name)}`)));
  }
  const facts = [kind, voice.languages.join(", ") || "no language"];
  if (voice.preset) facts.push(`${voice.preset.voice} at ${voice.preset.speed}×`);
  if (voice.clone) facts.push(`${voice.clone.duration.toFixed(1)} s prompt`);
  if (voice.clone && voice.clone.kept) facts.push(`kept ${keptText(voice.clone.kept)} of the recording`);
  if (!voice.installed) facts.push("not speaking yet");
  const clone = voice.clone;
  const item = element("li", { className: `card ${kind}` }, [
    element("div", { className: "voice-head" }, [
      element("span", { className: "voice-name", textContent: voice.name }),
      element("span", { className: "actions" }, actions),
    ]),
    element("div", { className: "meta", textContent: facts.join(" · ") }),
    ...(voice.preset && voice.preset.description ? [element("div", { textContent: voice.preset.description })] : []),
    ...(!voice.installed ? [element("div", { className: "meta", textContent: voice.description })] : []),
    // A clone's transcript and prompt are private: the API shows them only when signed in.
    ...(clone && clone.transcript !== undefined ? [element("div", { textContent: `“${clone.transcript}”` })] : []),
    ...(clone && clone.prompt_url ? promptPlayer(voice.name) : []),
    heard, heardWave,
  ]);
  item.dataset.voice = voice.name;
  item.dataset.kind = kind;
  return item;
}

// A clone's prompt with its waveform, drawn when it plays.
function promptPlayer(name) {
  const player = element("audio", { controls: true, preload: "none",
    className: "prompt", src: `api/voices/${encodeURIComponent(name)}/prompt` });
  return [player, Waveform.forMedia(player).canvas];
}

const keptText = ([start, end]) => `${start.toFixed(2)}–${end.toFixed(2)} s`;

async function removeVoice(name, path) {
  if (!window.confirm(`Delete "${name}"? This cannot be undone.`)) return;
  try {
    await api("DELETE", path);
    await loadVoices();
  } catch (error) {
    $("list-error").textContent = `Could not delete ${name}: ${error.message}`;
  }
}

// -- blend builder and presets ------------------------------------------------------------

function blendChoices() {
  // Blends mix Kokoro voice packs; a preset of one voice may also be a clone.
  return allVoices.filter((voice) => voice.installed && !voice.preset && !voice.name.includes("+"));
}

function fillBlendChoices() {
  const choices = blendChoices();
  for (const select of document.querySelectorAll(".blend-voice")) {
    const chosen = select.value;
    select.replaceChildren(...choices.map((voice) => element("option", {
      value: voice.name, textContent: `${voice.name} (${voice.languages.join(", ")})`,
    })));
    if (choices.some((voice) => voice.name === chosen)) select.value = chosen;
  }
  if (!document.querySelector(".blend-row") && choices.length) addBlendRow();
  showExpression();
}

function addBlendRow(name = "", weight = 1) {
  const select = element("select", { className: "blend-voice" });
  select.setAttribute("aria-label", "voice");
  const amount = element("input", { type: "number", className: "blend-weight", min: "0.1", max: "10", step: "0.1", value: String(weight) });
  amount.setAttribute("aria-label", "weight");
  const row = element("li", { className: "blend-row" }, [
    select, amount, button("Remove", "secondary", () => { row.remove(); showExpression(); }),
  ]);
  $("blend-rows").append(row);
  fillBlendChoices();
  if (name) select.value = name;
  showExpression();
}

// The voice expression the server reads: `af_sarah(1)+am_adam(2)`, or one voice's name.
function blendExpression() {
  const rows = [...document.querySelectorAll(".blend-row")].map((row) => ({
    name: row.querySelector(".blend-voice").value,
    weight: Number(row.querySelector(".blend-weight").value) || 0,
  })).filter((row) => row.name && row.weight > 0);
  if (rows.length === 1) return rows[0].name;
  return rows.map((row) => `${row.name}(${row.weight})`).join("+");
}

const blendSpeed = () => Number($("blend-speed").value);

function showExpression() {
  $("blend-expression").textContent = blendExpression() || "(pick a voice)";
  $("blend-speed-value").textContent = blendSpeed().toFixed(2);
}

function editPreset(preset) {
  editingPreset = preset.name;
  $("blend-rows").replaceChildren();
  for (const part of preset.voice.split("+")) {
    const match = /^(.+?)(?:\(([\d.]+)\))?$/.exec(part);
    addBlendRow(match[1], match[2] ? Number(match[2]) : 1);
  }
  $("blend-speed").value = String(preset.speed);
  $("preset-name").value = preset.name;
  $("preset-description").value = preset.description;
  showExpression();
  $("builder").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function savePreset(event) {
  event.preventDefault();
  const name = $("preset-name").value.trim();
  const body = { voice: blendExpression(), speed: blendSpeed(), description: $("preset-description").value };
  $("builder-error").textContent = "";
  $("builder-ok").textContent = "";
  $("preset-save").disabled = true;
  try {
    const saved = name === editingPreset
      ? await api("PUT", `api/presets/${encodeURIComponent(name)}`, body)
      : await api("POST", "api/presets", { name, ...body });
    editingPreset = saved.name;
    $("builder-ok").textContent = `Saved the preset ${saved.name}: Home Assistant lists it within 30 s (2026.9 and later; on older releases, reload the Wyoming integration).`;
    await loadVoices();
  } catch (error) {
    $("builder-error").textContent = error.message;
  } finally {
    $("preset-save").disabled = false;
  }
}

// -- pronunciation lexicon ----------------------------------------------------------------

const lexiconUrl = (language, word) =>
  `api/lexicon/${encodeURIComponent(language)}/${encodeURIComponent(word)}`;

async function loadLexicon() {
  if ($("lexicon").hidden) return;
  try {
    const entries = await api("GET", "api/lexicon");
    $("lexicon-entries").replaceChildren(...(entries.length ? entries.map(lexiconItem)
      : [element("li", { className: "hint", textContent: "No pronunciations yet." })]));
    $("lexicon-list-error").textContent = "";
  } catch (error) {
    $("lexicon-list-error").textContent = `Could not load the pronunciations: ${error.message}`;
  }
}

function lexiconItem(entry) {
  const remove = element("button", { type: "button", className: "danger", textContent: "Delete" });
  remove.hidden = $("lexicon-form").hidden;
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await api("DELETE", lexiconUrl(entry.language, entry.word));
      await loadLexicon();
    } catch (error) {
      $("lexicon-list-error").textContent = `Could not delete ${entry.word}: ${error.message}`;
      remove.disabled = false;
    }
  });
  const edit = element("button", { type: "button", className: "secondary", textContent: "Edit" });
  edit.hidden = remove.hidden;
  edit.addEventListener("click", () => {
    const form = $("lexicon-form");
    form.elements.language.value = entry.language;
    form.elements.word.value = entry.word;
    form.elements.kind.value = entry.phonemes !== null ? "phonemes" : "say";
    $("lexicon-value").value = entry.phonemes !== null ? entry.phonemes : entry.say;
    form.elements.case_sensitive.checked = entry.case_sensitive;
    showLexiconKind();
    form.scrollIntoView({ behavior: "smooth", block: "nearest" });
  });
  const value = entry.phonemes !== null
    ? element("span", { className: "entry-value ipa", textContent: `/${entry.phonemes}/` })
    : element("span", { className: "entry-value", textContent: `“${entry.say}”` });
  const item = element("li", {}, [
    element("div", { className: "voice-head" }, [
      element("span", {}, [element("span", { className: "voice-name", textContent: entry.word }), " → ", value]),
      element("span", { className: "actions" }, [edit, remove]),
    ]),
    element("div", { className: "meta", textContent:
      `${entry.language} · ${entry.phonemes !== null ? "IPA" : "say as"}${entry.case_sensitive ? " · exact case" : ""}` }),
  ]);
  item.dataset.word = entry.word;
  item.dataset.language = entry.language;
  return item;
}

function showLexiconKind() {
  const ipa = $("lexicon-form").elements.kind.value === "phonemes";
  $("lexicon-value-label").textContent = ipa ? "IPA phonemes (no slashes or stress digits)" : "Say as";
  $("lexicon-value").placeholder = ipa ? "ˈzɪɡbiː" : "zig bee";
  $("lexicon-value").classList.toggle("ipa", ipa);
}

async function saveLexiconEntry(event) {
  event.preventDefault();
  const form = event.target;
  const kind = form.elements.kind.value;
  const body = { [kind]: $("lexicon-value").value, case_sensitive: form.elements.case_sensitive.checked };
  $("lexicon-error").textContent = "";
  $("lexicon-ok").textContent = "";
  $("lexicon-save").disabled = true;
  try {
    const entry = await api("PUT", lexiconUrl(form.elements.language.value, form.elements.word.value.trim()), body);
    $("lexicon-ok").textContent = `Saved ${entry.word} (${entry.language}).`;
    await loadLexicon();
  } catch (error) {
    $("lexicon-error").textContent = error.message;
  } finally {
    $("lexicon-save").disabled = false;
  }
}

async function listenToWord() {
  const word = $("lexicon-word").value.trim();
  const voice = $("lexicon-voice").value;
  $("lexicon-error").textContent = "";
  $("lexicon-ok").textContent = "";
  if (!word || !voice) {
    $("lexicon-error").textContent = word ? "No voice can speak yet." : "Type a word to listen to.";
    return;
  }
  const button = $("lexicon-listen");
  button.disabled = true;
  button.textContent = "Speaking...";
  try {
    const response = await fetch(`api/voices/${encodeURIComponent(voice)}/preview`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: `Here is ${word}. I said ${word}.` }),
    });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
    const audio = $("lexicon-audio");
    if (audio.src) URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(await response.blob());
    audio.hidden = false;
    await audio.play().catch(() => {});
  } catch (error) {
    $("lexicon-error").textContent = `Could not speak ${word}: ${error.message}`;
  } finally {
    button.disabled = false;
    button.textContent = "Listen";
  }
}

// -- recording in the browser: raw samples from Web Audio, written as a 16-bit WAV --------

async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(4096, 1, 1);
  const blocks = [];
  processor.onaudioprocess = (event) => blocks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
  source.connect(processor);
  processor.connect(context.destination);
  return {
    async stop() {
      processor.disconnect();
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      const rate = context.sampleRate;
      await context.close();
      return encodeWav(blocks, rate);
    },
  };
}

function encodeWav(blocks, rate) {
  const length = blocks.reduce((sum, block) => sum + block.length, 0);
  const view = new DataView(new ArrayBuffer(44 + length * 2));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, length * 2, true);
  let offset = 44;
  for (const block of blocks) {
    for (const sample of block) {
      view.setInt16(offset, Math.max(-1, Math.min(1, sample)) * 0x7fff, true);
      offset += 2;
    }
  }
  return new Blob([view], { type: "audio/wav" });
}

// The recording to register, in the player under the recorder, with its waveform.
function showRecording(blob) {
  const player = $("recorded");
  if (player.src.startsWith("blob:")) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(blob);
  player.hidden = false;
  recordedView.setKept(null);
  recordedView.load(blob).catch(() => {}); // a format the browser cannot decode: no waveform
}

// -- transcripts: filled from the recording when the server can transcribe ---------------

async function fillTranscript(blob, filename) {
  const field = document.querySelector("textarea[name=transcript]");
  if (!canTranscribe || field.value.trim()) return;
  const data = new FormData();
  data.append("audio", blob, filename);
  $("transcript-hint").textContent = "Transcribing the recording...";
  try {
    const heard = await api("POST", "api/transcribe", data);
    if (!field.value.trim()) field.value = heard.text;
    if (heard.language) $("language").value = heard.language;
    $("transcript-hint").textContent = heard.language
      ? `Heard ${heard.detected_language}; check the words before registering.`
      : `Heard ${heard.detected_language}, which voice clones cannot speak.`;
  } catch (error) {
    $("transcript-hint").textContent = `Could not transcribe: ${error.message}. Type the transcript.`;
  }
}

async function toggleRecording() {
  const button = $("record");
  if (recording) {
    recordedBlob = await recording.stop();
    recording = null;
    button.textContent = "Record again";
    $("record-state").textContent = "recorded";
    showRecording(recordedBlob);
    await fillTranscript(recordedBlob, "recording.wav");
    return;
  }
  try {
    recording = await startRecording();
    button.textContent = "Stop";
    $("record-state").textContent = "recording... read the transcript aloud";
  } catch (error) {
    $("record-state").textContent = `The microphone is not available: ${error.message}`;
  }
}

// -- forms --------------------------------------------------------------------------------

async function register(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const file = $("audio-file").files[0];
  data.delete("audio");
  if (file) data.append("audio", file, file.name);
  else if (recordedBlob) data.append("audio", recordedBlob, "recording.wav");
  if (!data.get("url")) data.delete("url");
  $("register-error").textContent = "";
  $("register-ok").textContent = "";
  $("register-button").disabled = true;
  try {
    const voice = await api("POST", "api/voices", data);
    $("register-ok").textContent = `Registered ${voice.name} (${voice.duration.toFixed(1)} s).` +
      (voice.kept ? ` The shaded part of the recording was kept (${keptText(voice.kept)}).` : "");
    form.reset();
    recordedBlob = null;
    if (voice.kept) recordedView.setKept(voice.kept);
    else $("recorded").hidden = true;
    await loadVoices();
  } catch (error) {
    $("register-error").textContent = error.message;
  } finally {
    $("register-button").disabled = false;
  }
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("POST", "api/login", { token: new FormData(event.target).get("token") });
    event.target.reset();
    await loadSession();
    await loadVoices();
    await loadLexicon();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
}

async function logout() {
  await api("POST", "api/logout");
  await loadSession();
  await loadVoices();
  await loadLexicon();
}

document.addEventListener("DOMContentLoaded", async () => {
  recordedView = Waveform.forMedia($("recorded"));
  Waveform.forMedia($("blend-audio"));
  Waveform.forMedia($("lexicon-audio"));
  $("login-form").addEventListener("submit", login);
  $("register-form").addEventListener("submit", register);
  $("record").addEventListener("click", toggleRecording);
  $("audio-file").addEventListener("change", () => {
    const file = $("audio-file").files[0];
    if (file) showRecording(file);
    if (file) fillTranscript(file, file.name);
  });
  $("logout").addEventListener("click", logout);
  $("lexicon-form").addEventListener("submit", saveLexiconEntry);
  $("lexicon-form").addEventListener("change", (event) => {
    if (event.target.name === "kind") showLexiconKind();
  });
  $("lexicon-listen").addEventListener("click", listenToWord);
  $("gallery-language").addEventListener("change", showGallery);
  $("blend-add").addEventListener("click", () => addBlendRow());
  $("blend-rows").addEventListener("input", showExpression);
  $("blend-rows").addEventListener("change", showExpression);
  $("blend-speed").addEventListener("input", showExpression);
  $("blend-listen").addEventListener("click", () => listen(blendExpression(), {
    speed: blendSpeed(), text: $("sample-text").value, audio: $("blend-audio"),
    button: $("blend-listen"), errors: $("builder-error"),
  }));
  $("preset-form").addEventListener("submit", savePreset);
  await loadSession();
  await loadVoices();
  await loadLexicon();
});
