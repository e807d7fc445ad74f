/**
 * `npm run bench` (third part): how long sous takes to save and restore a training state of
 * about 50 MB, on the local filesystem and on S3, against a plain write and read of the same
 * bytes in the same run, and their ratio.
 *
 * The state is that of a transformer (byte tokenizer, vocab 261, context 64, width 416,
 * 2 layers, 8 heads: 4.4M parameters; weights and both AdamW moments as float32) on the local
 * backend's wasm device, after one optimizer step so the moments are not zero.
 *
 * - sous save: the real `checkpoint` stage (as `save-final`) run by the workflow runner in a
 *   one-stage workflow against a fresh store: `lendState` (the state lent in pieces: weights
 *   copied into memory the client reuses, moments as they lie, every value checked finite),
 *   `putHashed` of the blob from those pieces, `putIfAbsent` of the manifest, then the index.
 *   The filesystem store writes a temp file from the pieces in gathering writes of 1 MiB, two in
 *   flight, and fsyncs it (hashing the pieces meanwhile, during the writes and the fsync),
 *   renames or links it into place and fsyncs the directory;
 *   the S3 store joins the pieces, hashes them, then uploads in 8 MiB parts, 4 at a time.
 * - sous restore: `newestCheckpoint({ fallback: false })` (list, read and decode the manifest,
 *   get the blob and check its SHA-256, hashed as it is read on the filesystem) then
 *   `restoreCheckpoint` (`loadState` with the optimizer into the training client).
 * - plain write, filesystem: `open`, `writeFile` of the saved bytes and `fsync` of the file
 *   (no temp file, rename or directory fsync); plain read: `readFile`. Both files were just
 *   written, so reads come from the page cache on both sides.
 * - plain upload, S3: one `PutObject` of the saved bytes; plain read: `GetObject` and its body.
 *   S3 is s3rver on 127.0.0.1 (in a child process, as the tests start it); the sous store and
 *   the plain calls share one S3 client. Besides, each round uploads the same bytes as a
 *   multipart upload in the parts the S3 store uses (after the pair above, not alternated),
 *   to tell the cost of multipart on the server from that of sous.
 *
 * The plain side starts from bytes already in memory; the sous side serialises and
 * deserialises the model, so the breakdown also times `lendState`, SHA-256 and `loadState`
 * on their own. Each round takes fresh directories and key prefixes (a committed checkpoint
 * is never overwritten) and alternates whether sous or plain goes first. The report gives the
 * median of each column over `--rounds` rounds; a ratio is the median of the rounds' ratios.
 *
 * Options: `--rounds N` (3). Run from the repository root.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { mkdir, open, readFile, rm } from "node:fs/promises"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Layer, type Scope } from "effect"
import { makeFsBlobStore } from "../src/adapters/blob/fs-blob-store.js"
import { makeS3BlobStore } from "../src/adapters/blob/s3-blob-store.js"
import { makeLocalBackend } from "../src/adapters/local/index.js"
import { memoryMetricsSinkLayer } from "../src/adapters/metrics/memory-metrics-sink.js"
import { byteTokenizerLayer, makeByteTokenizer } from "../src/adapters/tokenizers/byte-tokenizer.js"
import {
  adamParams,
  BlobStore,
  type BlobStoreError,
  float32,
  fromInts,
  int64,
  TrainingClient,
  type TransformerArchitecture
} from "../src/ports/index.js"
import { checkpoint, emptySummary, newestCheckpoint, restoreCheckpoint, RunKeys, sha256 } from "../src/stages/index.js"
import { runWorkflow, sequence, stage, workflow } from "../src/workflows/index.js"
import { startS3Server } from "../test/support/s3-server.js"
import { countOption, formatTable, median, runBench } from "./report.js"

const tokenizer = makeByteTokenizer()

const architecture: TransformerArchitecture = {
  kind: "transformer",
  vocabSize: tokenizer.vocabSize,
  contextLength: 64,
  width: 416,
  layers: 2,
  heads: 8
}

const readOptions = () => {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } })
  return { rounds: countOption("rounds", values.rounds, 1) }
}

/** The one-stage workflow that saves a checkpoint named `final`, as a run's last stage does. */
const saveWorkflow = workflow({
  name: "bench-checkpoint",
  initial: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.summary, RunKeys.lastCheckpoint, RunKeys.dataDigest],
  root: sequence(stage(checkpoint({ final: true, rendererId: "role-colon/assistant", dataSeed: 0, retention: { keepLast: 0, keepEvery: 0 } })))
})

const initialState = {
  [RunKeys.runInfo.name]: { runId: "bench", recipeHash: "bench", startedAt: 0 },
  [RunKeys.dataCursor.name]: { epoch: 0, position: 0 },
  [RunKeys.summary.name]: emptySummary,
  [RunKeys.lastCheckpoint.name]: null,
  [RunKeys.dataDigest.name]: "bench"
}

/** How long `effect` takes, in seconds. */
const seconds = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const startedAt = performance.now()
    yield* effect
    return (performance.now() - startedAt) / 1000
  })

/** The training client's state as bytes (the local backend always answers bytes). */
const saveStateBytes = (client: TrainingClient["Service"], name: string) =>
  Effect.flatMap(Effect.flatMap(client.saveState(name), (pending) => pending.result), (ref) =>
    ref._tag === "Bytes" ? Effect.succeed(ref.bytes) : Effect.die(new Error(`expected state bytes, got the remote path ${ref.path}`)))

/** A fresh sous store and a fresh plain destination, with the plain write and read. */
interface Destination {
  readonly store: BlobStore["Service"]
  readonly write: (bytes: Uint8Array) => Promise<void>
  readonly read: () => Promise<Uint8Array>
  /** S3 only: the same bytes as a multipart upload in the parts the S3 store uses. */
  readonly writeMultipart?: (bytes: Uint8Array) => Promise<void>
}

/** One place to save to, and a fresh destination there for each round. */
interface Target {
  readonly label: string
  readonly prepare: (round: number) => Effect.Effect<Destination, BlobStoreError, Scope.Scope>
}

/** The filesystem: a store directory and a plain file under a fresh directory per round. */
const fsTarget = (root: string): Target => ({
  label: "local filesystem",
  prepare: (round) =>
    Effect.gen(function*() {
      const dir = join(root, `round-${round}`)
      const file = join(dir, "plain", "state.bin")
      yield* Effect.promise(() => mkdir(join(dir, "plain"), { recursive: true }))
      return {
        store: yield* makeFsBlobStore(join(dir, "sous")),
        write: async (bytes) => {
          const handle = await open(file, "w")
          try {
            await handle.writeFile(bytes)
            await handle.sync()
          } finally {
            await handle.close()
          }
        },
        read: async () => {
          const buffer = await readFile(file)
          return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
        }
      }
    })
})

// How the S3 store uploads a blob over one part: 8 MiB parts, 4 at once (its defaults).
const storePartSize = 8 * 1024 * 1024
const storeUploadConcurrency = 4

/** S3: a store prefix and a plain key under a fresh prefix per round, one client for both. */
const s3Target = (client: S3Client, bucket: string): Target => ({
  label: "S3 (s3rver, 127.0.0.1)",
  prepare: (round) =>
    Effect.gen(function*() {
      const key = `round-${round}/plain/state.bin`
      return {
        store: yield* makeS3BlobStore({ client, bucket, prefix: `round-${round}/sous` }),
        write: async (bytes) => {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }))
        },
        writeMultipart: async (bytes) => {
          const upload = new Upload({
            client,
            params: { Bucket: bucket, Key: `${key}.multipart`, Body: bytes },
            partSize: storePartSize,
            queueSize: storeUploadConcurrency
          })
          await upload.done()
        },
        read: async () => {
          const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
          return response.Body === undefined ? new Uint8Array(0) : await response.Body.transformToByteArray()
        }
      }
    })
})

interface Round {
  readonly save: number
  readonly write: number
  readonly restore: number
  readonly read: number
  readonly multipart?: number
}

interface Breakdown {
  readonly lend: number
  readonly digest: number
  readonly load: number
}

const format = (value: number, digits: number) => value.toFixed(digits)

const bench = (options: { readonly rounds: number }, root: string) =>
  Effect.gen(function*() {
    const startedAt = performance.now()
    const backend = yield* makeLocalBackend({ device: "wasm", decode: tokenizer.decode })
    const client = yield* backend.createTrainingClient({ baseModel: "bench-checkpoint", architecture, seed: 0 })
    const info = yield* client.info

    // One optimizer step on one short example, so the saved moments are not all zero.
    const tokens = tokenizer.encode("User: Add 12 and 34.\n\nAssistant: 46")
    const datum = {
      model_input: fromInts(tokens.slice(0, -1)),
      loss_fn_inputs: { target_tokens: int64(tokens.slice(1)), weights: float32(tokens.slice(1).map(() => 1)) }
    }
    yield* Effect.flatMap(client.forwardBackward([datum], "cross_entropy"), (pending) => pending.result)
    yield* Effect.flatMap(client.optimStep(adamParams({ learning_rate: 1e-3 })), (pending) => pending.result)

    // The bytes the plain side writes: the state the checkpoint stage saves, under the same name.
    const bytes = yield* saveStateBytes(client, "final")
    const plainDigest = yield* sha256(bytes)

    const server = yield* Effect.acquireRelease(Effect.promise(startS3Server), (s) => Effect.promise(s.stop))
    const bucket = yield* Effect.promise(server.createBucket)
    const s3 = yield* Effect.acquireRelease(
      Effect.sync(() => new S3Client({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, forcePathStyle: true })),
      (c) => Effect.sync(() => c.destroy())
    )
    const services = Layer.mergeAll(Layer.succeed(TrainingClient, client), byteTokenizerLayer(), memoryMetricsSinkLayer)
    const targets: ReadonlyArray<Target> = [fsTarget(root), s3Target(s3, bucket)]

    yield* Effect.sync(() =>
      console.log(
        [
          "",
          "sous bench: checkpoint save and restore vs a plain write and read of the same bytes",
          `state: transformer, vocab ${architecture.vocabSize}, context ${architecture.contextLength}, width ${architecture.width}, ` +
          `${architecture.layers} layers, ${architecture.heads} heads, ${info.parameterCount.toLocaleString("en-US")} parameters, ` +
          `weights + AdamW moments = ${format(bytes.byteLength / 1e6, 1)} MB (${format(bytes.byteLength / 2 ** 20, 1)} MiB), ` +
          `local backend on ${info.device}`,
          "sous save = checkpoint stage (saveState, sha256, put blob, putIfAbsent manifest, index); " +
          "sous restore = newestCheckpoint (manifest, blob, sha256 check) + restoreCheckpoint (loadState)",
          "plain: filesystem open + writeFile + fsync / readFile; S3 one PutObject / GetObject (s3rver on 127.0.0.1, same client)",
          `${options.rounds} rounds, fresh directories and prefixes each round, sous and plain alternate going first`,
          ""
        ].join("\n")
      )
    )

    // The checkpoint stage also reads the tokenizer's id and sends an event to the metrics sink.
    const { results, breakdowns } = yield* Effect.gen(function*() {
      const results = new Map<string, Array<Round>>(targets.map((t) => [t.label, []]))
      const breakdowns: Array<Breakdown> = []
      for (let round = 0; round < options.rounds; round++) {
        const sousFirst = round % 2 === 0
        for (const target of targets) {
          const { store, write, read, writeMultipart } = yield* target.prepare(round)
          const withStore = Effect.provideService(BlobStore, store)
          const save = seconds(runWorkflow(saveWorkflow, { initialState }).pipe(withStore))
          const restore = seconds(
            newestCheckpoint({ fallback: false }).pipe(Effect.flatMap(restoreCheckpoint), withStore)
          )
          const plainWrite = seconds(Effect.promise(() => write(bytes)))
          const plainRead = seconds(Effect.promise(read))
          let saveSeconds: number, writeSeconds: number, restoreSeconds: number, readSeconds: number
          if (sousFirst) {
            saveSeconds = yield* save
            writeSeconds = yield* plainWrite
            restoreSeconds = yield* restore
            readSeconds = yield* plainRead
          } else {
            writeSeconds = yield* plainWrite
            saveSeconds = yield* save
            readSeconds = yield* plainRead
            restoreSeconds = yield* restore
          }
          // Besides: the plain bytes uploaded the way the S3 store uploads them.
          const multipartSeconds = writeMultipart === undefined ? undefined : yield* seconds(Effect.promise(() => writeMultipart(bytes)))
          results.get(target.label)!.push({
            save: saveSeconds,
            write: writeSeconds,
            restore: restoreSeconds,
            read: readSeconds,
            ...(multipartSeconds === undefined ? {} : { multipart: multipartSeconds })
          })
          // Untimed: the checkpoint holds exactly the bytes the plain side wrote.
          const saved = yield* newestCheckpoint({ fallback: false }).pipe(withStore)
          if (saved.manifest.blobs[0]?.sha256 !== plainDigest) {
            return yield* Effect.die(new Error(`round ${round + 1}, ${target.label}: the checkpoint's blob is not the bytes written plainly`))
          }
        }
        // The parts of the sous side that the plain side does not do, timed on their own.
        breakdowns.push({
          lend: yield* seconds(Effect.scoped(client.lendState!("final"))),
          digest: yield* seconds(sha256(bytes)),
          load: yield* seconds(Effect.flatMap(client.loadState({ _tag: "Bytes", bytes }, { optimizer: true }), (pending) => pending.result))
        })
        yield* Effect.promise(() => rm(join(root, `round-${round}`), { recursive: true, force: true }))
      }
      return { results, breakdowns }
    }).pipe(Effect.provide(services))

    const rows = targets.map((target) => {
      const rounds = results.get(target.label)!
      const column = (pick: (r: Round) => number) => median(rounds.map(pick))
      return [
        target.label,
        format(bytes.byteLength / 1e6, 1),
        format(column((r) => r.save), 3),
        format(column((r) => r.write), 3),
        format(column((r) => r.save / r.write), 2),
        format(column((r) => r.restore), 3),
        format(column((r) => r.read), 3),
        format(column((r) => r.restore / r.read), 2)
      ]
    })
    const multipart = targets.flatMap((target) => results.get(target.label)!.flatMap((r) => r.multipart === undefined ? [] : [r]))
    const breakdown = (pick: (b: Breakdown) => number) => format(median(breakdowns.map(pick)), 3)
    yield* Effect.sync(() =>
      console.log(
        [
          formatTable([
            ["store (median of rounds)", "MB", "sous save s", "plain write s", "save/plain", "sous restore s", "plain read s", "restore/plain"],
            ...rows
          ]),
          "",
          formatTable([
            ["round", "store", "sous save s", "plain write s", "sous restore s", "plain read s", "plain multipart s"],
            ...targets.flatMap((target) =>
              results.get(target.label)!.map((r, index) => [
                String(index + 1),
                target.label,
                format(r.save, 3),
                format(r.write, 3),
                format(r.restore, 3),
                format(r.read, 3),
                r.multipart === undefined ? "-" : format(r.multipart, 3)
              ])
            )
          ]),
          "",
          `inside sous (median of rounds, timed alone): lendState ${breakdown((b) => b.lend)} s, ` +
          `sha256 ${breakdown((b) => b.digest)} s (node:crypto; on the filesystem it overlaps the write and fsync, or the read), ` +
          `loadState ${breakdown((b) => b.load)} s`,
          ...(multipart.length === 0 ? [] : [
            `S3 plain multipart upload (lib-storage Upload, ${storePartSize / 2 ** 20} MiB parts, ${storeUploadConcurrency} at once, ` +
            `as the S3 store uploads): ${format(median(multipart.map((r) => r.multipart!)), 3)} s; ` +
            `sous save/multipart ${format(median(multipart.map((r) => r.save / r.multipart!)), 2)}`
          ]),
          `checked: every checkpoint's blob has the sha256 of the bytes written plainly`,
          `checkpoint-io bench took ${format((performance.now() - startedAt) / 1000, 1)} s`
        ].join("\n")
      )
    )
  })

const options = readOptions()
await runBench("sous-bench-checkpoint-", (dir) => bench(options, dir))
