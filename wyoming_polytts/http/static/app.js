"use strict";
// The admin page: sign in, register a voice from a recording, list, play and delete voices,
// and keep the pronunciation lexicon.

const $ = (id) => document.getElementById(id);
let recording = null; // {stop: () => Promise<Blob>} while recording
let recordedBlob = null;
let canTranscribe = false;

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
  const session = await api("GET", "/api/session");
  $("login").hidden = session.authenticated;
  $("register").hidden = !session.authenticated;
  $("logout").hidden = !session.authenticated;
  $("session-state").textContent = session.authenticated ? "signed in" : "";
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
    const { voices } = await api("GET", "/api/voices");
    const clones = voices.filter((voice) => voice.clone);
    const builtin = voices.filter((voice) => !voice.clone);
    $("clones").replaceChildren(...(clones.length ? clones.map(cloneItem)
      : [element("li", { className: "hint", textContent: "No registered voices yet." })]));
    $("builtin").replaceChildren(...builtin.map((voice) => element("li", {
      textContent: `${voice.name} - ${voice.languages.join(", ")}${voice.installed ? "" : " (not installed)"}`,
    })));
    $("builtin-count").textContent = builtin.length;
    const speaking = voices.filter((voice) => voice.installed);
    const chosen = $("lexicon-voice").value;
    $("lexicon-voice").replaceChildren(...speaking.map((voice) => element("option", {
      value: voice.name, textContent: `${voice.name} (${voice.languages.join(", ")})`,
    })));
    if (speaking.some((voice) => voice.name === chosen)) $("lexicon-voice").value = chosen;
    $("list-error").textContent = "";
  } catch (error) {
    $("list-error").textContent = `Could not load the voices: ${error.message}`;
  }
}

function cloneItem(voice) {
  const clone = voice.clone;
  const remove = element("button", { type: "button", className: "danger", textContent: "Delete" });
  remove.dataset.voice = voice.name;
  remove.hidden = $("register").hidden;
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Delete the voice "${voice.name}"? This cannot be undone.`)) return;
    remove.disabled = true;
    try {
      await api("DELETE", `/api/voices/${encodeURIComponent(voice.name)}`);
      await loadVoices();
    } catch (error) {
      $("list-error").textContent = `Could not delete ${voice.name}: ${error.message}`;
      remove.disabled = false;
    }
  });
  const state = voice.installed ? "ready" : "not speaking yet: the ZipVoice model is not installed";
  const preview = element("button", { type: "button", className: "secondary", textContent: "Preview" });
  preview.hidden = !voice.installed || $("register").hidden;
  const heard = element("audio", { controls: true, hidden: true });
  heard.className = "preview";
  preview.addEventListener("click", async () => {
    preview.disabled = true;
    preview.textContent = "Speaking...";
    try {
      const response = await fetch(`/api/voices/${encodeURIComponent(voice.name)}/preview`,
        { method: "POST", credentials: "same-origin" });
      if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
      heard.src = URL.createObjectURL(await response.blob());
      heard.hidden = false;
      await heard.play().catch(() => {});
    } catch (error) {
      $("list-error").textContent = `Could not preview ${voice.name}: ${error.message}`;
    } finally {
      preview.disabled = false;
      preview.textContent = "Preview";
    }
  });
  const item = element("li", {}, [
    element("div", { className: "voice-head" }, [
      element("span", { className: "voice-name", textContent: voice.name }),
      element("span", { className: "actions" }, [preview, remove]),
    ]),
    element("div", { className: "meta",
      textContent: `${voice.engine} · ${voice.languages.join(", ")} · ${clone.duration.toFixed(1)} s · ${state}` }),
    // The transcript and the prompt are private: the API shows them only when signed in.
    ...(clone.transcript === undefined ? [] : [element("div", { textContent: `“${clone.transcript}”` })]),
    ...(clone.prompt_url ? [element("audio", { controls: true, preload: "none", src: clone.prompt_url })] : []),
    heard,
  ]);
  item.dataset.voice = voice.name;
  return item;
}

// -- pronunciation lexicon ----------------------------------------------------------------

const lexiconUrl = (language, word) =>
  `/api/lexicon/${encodeURIComponent(language)}/${encodeURIComponent(word)}`;

async function loadLexicon() {
  if ($("lexicon").hidden) return;
  try {
    const entries = await api("GET", "/api/lexicon");
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
    const response = await fetch(`/api/voices/${encodeURIComponent(voice)}/preview`, {
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

// -- transcripts: filled from the recording when the server can transcribe ---------------

async function fillTranscript(blob, filename) {
  const field = document.querySelector("textarea[name=transcript]");
  if (!canTranscribe || field.value.trim()) return;
  const data = new FormData();
  data.append("audio", blob, filename);
  $("transcript-hint").textContent = "Transcribing the recording...";
  try {
    const heard = await api("POST", "/api/transcribe", data);
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
    $("recorded").src = URL.createObjectURL(recordedBlob);
    $("recorded").hidden = false;
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
    const voice = await api("POST", "/api/voices", data);
    $("register-ok").textContent = `Registered ${voice.name} (${voice.duration.toFixed(1)} s).`;
    form.reset();
    recordedBlob = null;
    $("recorded").hidden = true;
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
    await api("POST", "/api/login", { token: new FormData(event.target).get("token") });
    event.target.reset();
    await loadSession();
    await loadVoices();
    await loadLexicon();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
}

async function logout() {
  await api("POST", "/api/logout");
  await loadSession();
  await loadVoices();
  await loadLexicon();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", login);
  $("register-form").addEventListener("submit", register);
  $("record").addEventListener("click", toggleRecording);
  $("audio-file").addEventListener("change", () => {
    const file = $("audio-file").files[0];
    if (file) fillTranscript(file, file.name);
  });
  $("logout").addEventListener("click", logout);
  $("lexicon-form").addEventListener("submit", saveLexiconEntry);
  $("lexicon-form").addEventListener("change", (event) => {
    if (event.target.name === "kind") showLexiconKind();
  });
  $("lexicon-listen").addEventListener("click", listenToWord);
  await loadSession();
  await loadVoices();
  await loadLexicon();
});
