/**
 * Every built-in method, registered by importing its file. Adding a method is adding one
 * file under src/methods and one line here.
 */
import "./grpo.js";
import "./dr-grpo.js";
import "./rloo.js";
import "./reinforce-pp.js";
import "./reinforce-pp-baseline.js";
import "./gae.js";
import "./opo.js";
import "./grpo-passk.js";
import "./gpg.js";
// Fine-grained credit assignment (methods.md Parts 1-3).
import "./tempo.js";
import "./spo-chain.js";
import "./spo-tree.js";
import "./gigpo.js";
import "./pure.js";
import "./hapo.js";
import "./r3l.js";
import "./hicra.js";
import "./d3s.js";
import "./matchtir.js";
import "./rank-grpo.js";
import "./brpo.js";
import "./oprl.js";
import "./ma-rlhf.js";
import "./capo.js";
import "./laser.js";
import "./rto.js";
import "./dpo-token-reward.js";

// The rest of the seed (methods-part5.md).
import "./poad.js";
import "./tp-grpo.js";
import "./length-curriculum.js";
import "./attention-credit.js";
import "./thr.js";
import "./tvm.js";
import "./sotopia.js";
import "./groundedprm.js";
import "./calm.js";
import "./lare.js";

// The token-level preference and distillation family (methods-part4.md, Part 3 sections 1-3).
import "./cdpo.js";
import "./tgdpo.js";
import "./t-reg.js";
import "./aligndistil.js";
import "./sstoken.js";

export { listMethods, getMethod, runMethod } from "../core/registry.js";
import "./tw-grpo.js";
