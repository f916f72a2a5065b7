// Drives the running app with @gradio/client as a JavaScript user would; prints one JSON object of findings.
// node tests/js/client_check.mjs <app url>   (run by tests/test_js_client.py, which installs the client)
import { Client, handle_file } from "@gradio/client";

const url = process.argv[2];
const out = {};
const client = await Client.connect(url, { events: ["data", "status"] });  // status events carry the progress

// optional parameters left out: only the text
const fill = await client.predict("/fill_mask", { text: "The cat sat on the [MASK]." });
out.fill_models = fill.data[0].results.map((r) => r.model);

// an upload without a file name (handle_file of a Buffer), judged by its content
const table = Buffer.from("id,lang,text\n1,en,The cat sleeps.\n1,fr,Le chat dort.\n", "utf-8");
const emb = await client.predict("/embeddings", { source: "upload", upload: handle_file(table), model: "100-1280",
                                                  layers: ["last"], method: "pca" });
out.upload_rows = emb.data[0].shared.dataset.n_rows;

// a refused input: a plain-text message, and the server keeps serving
try {
  await client.predict("/fill_mask", { text: "No mask here." });
  out.refused = null;
} catch (error) {
  out.refused = String(error.message || error);
}

// parameters left out take the declared defaults (not the page's controls: the page's compare starts in French)
const compared = await client.predict("/compare", { text: "The cat sat on the [MASK]." });
out.compare_request = compared.data[0].request;

// a value no control could hold: the app's own sentence, naming the parameter
try {
  await client.predict("/fill_mask", { text: "The cat sat on the [MASK].", top_k: 9999 });
  out.refused_range = null;
} catch (error) {
  out.refused_range = String(error.message || error);
}

// the one model-info endpoint
const info = await client.predict("/model_info", { model: "en-2048" });
out.info_key = info.data[0].results[0].model;

// a heavy job, cancelled once it reports progress
const rows = ["sent_more\tsent_less"];
for (let i = 0; i < 100; i++) rows.push(`the doctor ${i} said that he was tired after the long shift .\tthe doctor ${i} said that she was tired after the long shift .`);
const job = client.submit("/pll_pairs", { table: rows.join("\n"), model: "both" });
let sawProgress = false;
for await (const message of job) {
  if (message.type === "status" && message.progress_data && message.progress_data.length) {
    sawProgress = true;
    await job.cancel();
    break;
  }
  if (message.type === "data") break;
}
out.cancelled_after_progress = sawProgress;
console.log(JSON.stringify(out));
process.exit(0);
