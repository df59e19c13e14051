// Documents: what the chosen application holds, and uploading one more. The file goes where
// request_document_upload says: its signed upload_url (Supabase Storage), or on the embedded default this
// server's PUT /documents/uploads/<upload_id> with the signed-in token; then register_document with its
// size, type and SHA-256 (computed here, in the browser).
"use strict";
(() => {
  const { el, time } = caas;
  const { $, state, words, section } = B;

  section.docs = async () => {
    if (!state.app) return;
    $("docs").hidden = false;
    $("upload").hidden = state.mode === "app"; // inside a host the page may connect nowhere
    const list = await caas.tool("{{TOOL:list_documents}}", { application: state.app.id });
    $("kyc").textContent =
      "Identity " + (list.kyc.identity_verified ? "verified" : "not verified yet") +
      " · income " + (list.kyc.income_verified ? "verified" : "not verified yet");
    $("doc-list").querySelector("tbody").replaceChildren(
      ...list.documents.map((d) => {
        const row = el("tr");
        row.append(
          el("th", words(d.document_type), { scope: "row" }),
          el("td", d.file_name),
          el("td", words(d.status) + (d.decision_reason ? ": " + d.decision_reason : "")),
          el("td", time(d.registered_at)),
        );
        return row;
      }),
    );
    $("doc-list").hidden = list.documents.length === 0;
  };

  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  // A file name the tools accept: letters, digits, '.', '_' and '-', starting with a letter or digit.
  const safeName = (name) => (name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "document").slice(0, 128);

  const send = async (target, file) => {
    const local = !target.upload_url;
    const url = local ? "/documents/uploads/" + encodeURIComponent(target.upload_id) : target.upload_url;
    const headers = { "Content-Type": target.media_type };
    if (local) headers.Authorization = "Bearer " + caas.bearer();
    const answer = await fetch(url, { method: "PUT", headers, body: file });
    if (!answer.ok) {
      let why = "";
      try {
        why = (await answer.json()).message || "";
      } catch (_) {
        // no JSON body: the status says enough
      }
      throw new Error("the upload was refused (HTTP " + answer.status + ")" + (why ? ": " + why : ""));
    }
  };

  $("upload").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("doc-file").files[0];
    const progress = $("upload-state");
    if (!file || !state.app) return;
    if (!(crypto.subtle && crypto.subtle.digest)) {
      return caas.report(new Error("this page must be opened over HTTPS (or on this machine) to upload a file"));
    }
    const submit = event.submitter || $("upload").querySelector("button");
    submit.disabled = true;
    try {
      progress.textContent = "Preparing " + file.name + "…";
      const media_type = file.type;
      const target = await caas.tool("{{TOOL:request_document_upload}}", {
        application: state.app.id,
        document_type: $("doc-type").value,
        file_name: safeName(file.name),
        media_type,
        size_bytes: file.size,
      });
      progress.textContent = "Uploading " + file.name + "…";
      await send(target, file);
      const sha256 = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
      await caas.tool("{{TOOL:register_document}}", { upload: target.upload_id, size_bytes: file.size, media_type, sha256 });
      progress.textContent = "Uploaded " + file.name + ": it awaits review.";
      $("upload").reset();
      await section.docs();
    } catch (err) {
      progress.textContent = "";
      caas.report(err);
    } finally {
      submit.disabled = false;
    }
  });
})();
