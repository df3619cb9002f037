// Segment-wise encoding equals whole-text encoding: for the real tokenizers in ../shared
// (SentencePiece tokenizer.model files, a Hugging Face tokenizer.json, GGUF vocabularies of
// several pre-tokenizer families) and every chat template, tokenize_chat (which encodes the
// segments in runs between special tokens and places the loss mask) gives exactly the ids of
// encoding the whole rendered text at once (with the EOS token's text where the template appends
// EOS, and BOS in front where it asks for one). Also encode_continuation's contract around special
// tokens, and where a token that crosses a segment boundary goes.
#include <gtest/gtest.h>

#include "edgetune/data/examples.h"
#include "edgetune/data/trajectory.h"
#include "edgetune/tokenize/chat_template.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"

using namespace et;

namespace {

const char* kTokenizers[] = {
    "tokenizers/llama2/tokenizer.model",
    "tokenizers/llama2/tokenizer.json",
    "models/stories260K/tokenizer.model",
    "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-phi-3.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-starcoder.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-deepseek-coder.gguf",
};

// Conversations with tools and tool calls, a ReAct transcript, several turns, and text that is
// hard on tokenizers: leading/trailing spaces and newlines, runs of spaces, tabs, digits, accents,
// CJK, emoji, and an empty tool result.
const char* kLines[] = {
    R"({"tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now", )"
    R"("parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}], )"
    R"("messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}, )"
    R"({"role": "assistant", "content": "I will look it up.", "tool_calls": [{"function": {"name": "get_weather", )"
    R"("arguments": {"city": "Paris"}}}]}, {"role": "tool", "content": "18C, sunny"}, )"
    R"({"role": "assistant", "content": "It is 18C and sunny."}]})",
    R"({"system": "You solve tasks.", "question": "What is 12*7?", "trajectory": "Thought: multiply\nAction: calc\n)"
    R"(Action Input: {\"expr\": \"12*7\"}\nObservation: 84\nThought: done\nFinal Answer: 84"})",
    R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, )"
    R"({"role": "user", "content": "Bye"}, {"role": "assistant", "content": "See you."}]})",
    R"({"messages": [{"role": "user", "content": "  two leading spaces\n\nand\ttabs   runs  "}, )"
    R"({"role": "assistant", "content": " Café 東京 🙂 42\n  indented\n", "tool_calls": [{"function": )"
    R"({"name": "note", "arguments": {"text": "a \"quoted\" word", "n": 3.5}}}]}, {"role": "tool", "content": ""}, )"
    R"({"role": "user", "content": "\nnewline first"}, {"role": "assistant", "content": "ok  \n"}]})",
};

std::string piece_list(const Tokenizer& tok, const std::vector<int32_t>& ids, size_t from) {
  std::string s;
  for (size_t i = from; i < ids.size() && i < from + 8; ++i) s += "[" + tok.id_to_piece(ids[i]) + "]";
  return s;
}

}  // namespace

TEST(SegmentEncoding, EqualsWholeTextForRealTokenizers) {
  int checked = 0;
  for (const char* rel : kTokenizers) {
    const std::string path = test::shared_path(rel);
    if (path.empty()) continue;
    auto tok = load_tokenizer(path);
    for (ChatTemplate t : {ChatTemplate::plain, ChatTemplate::llama3, ChatTemplate::chatml, ChatTemplate::qwen3,
                           ChatTemplate::gemma3}) {
      for (size_t li = 0; li < std::size(kLines); ++li) {
        SCOPED_TRACE(std::string(rel) + " " + chat_template_name(t) + " conversation " + std::to_string(li));
        Conversation c = parse_trajectory(kLines[li], "auto", "line");
        RenderedChat r = render_chat(c, t, false);
        TokenizedExample ex = tokenize_chat(r, *tok, 1 << 30, "line");
        // The whole text, EOS written as its token's text.
        std::string text;
        for (const auto& seg : r.segments) {
          text += seg.text;
          if (seg.eos_after) {
            const std::string eos = tok->id_to_piece(tok->eos_id());
            ASSERT_EQ(tok->encode(eos, false, true), std::vector<int32_t>{tok->eos_id()}) << eos;
            text += eos;
          }
        }
        std::vector<int32_t> whole;
        if (r.bos && tok->bos_id() >= 0) whole.push_back(tok->bos_id());
        std::vector<int32_t> rest = tok->encode(text, false, true);
        whole.insert(whole.end(), rest.begin(), rest.end());
        size_t diff = 0;
        while (diff < whole.size() && diff < ex.ids.size() && whole[diff] == ex.ids[diff]) ++diff;
        EXPECT_EQ(ex.ids, whole) << "first difference at token " << diff << ": segments "
                                 << piece_list(*tok, ex.ids, diff) << " whole " << piece_list(*tok, whole, diff);
        EXPECT_EQ(ex.ids.size(), ex.target.size());
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no tokenizer of ../shared is present";
  EXPECT_EQ(checked, static_cast<int>(std::size(kTokenizers) * 5 * std::size(kLines)));
}

// encode_continuation: only the leading text continues earlier text; text after a special token
// inside it encodes as in the whole text (SentencePiece gives it its own dummy prefix). A segment
// right after an appended EOS also encodes as in the whole text.
TEST(SegmentEncoding, TextAfterSpecialTokens) {
  ET_REQUIRE_SHARED(path, "tokenizers/llama2/tokenizer.model");
  auto tok = load_tokenizer(path);
  const std::string text = "Hello</s>world\n</s> again";
  EXPECT_EQ(tok->encode_continuation(text, false), tok->encode(text, false, true));
  // As a continuation only the leading piece loses its dummy prefix.
  std::vector<int32_t> cont = tok->encode_continuation(text, true);
  std::vector<int32_t> whole = tok->encode(text, false, true);
  ASSERT_FALSE(cont.empty());
  EXPECT_NE(cont.front(), whole.front());  // "Hello" vs "▁Hello"
  std::vector<int32_t> lead = tok->encode_continuation("Hello", true);
  std::vector<int32_t> after = tok->encode("</s>world\n</s> again", false, true);
  lead.insert(lead.end(), after.begin(), after.end());
  EXPECT_EQ(cont, lead);
  RenderedChat r;
  r.segments.push_back({"Hi", false, false});
  r.segments.push_back({" there", true, true});  // EOS after
  r.segments.push_back({"\nnext", false, false});
  TokenizedExample ex = tokenize_chat(r, *tok, 1000, "x");
  EXPECT_EQ(ex.ids, tok->encode("Hi there</s>\nnext", false, true));
}

// A token that crosses a segment boundary belongs to the segment it starts in: with the Llama 2
// vocabulary, Llama 3's markers are plain text and "><" spans the end of "...<|eot_id|>" (the
// trained answer) and the start of "<|start_header_id|>" (the next header).
TEST(SegmentEncoding, StraddlingTokenBelongsToTheSegmentItStartsIn) {
  ET_REQUIRE_SHARED(path, "tokenizers/llama2/tokenizer.model");
  auto tok = load_tokenizer(path);
  Conversation c = parse_trajectory(kLines[2], "auto", "line");
  TokenizedExample ex = tokenize_chat(render_chat(c, ChatTemplate::llama3, false), *tok, 1 << 20, "line");
  // The target runs, decoded.
  std::vector<std::string> runs;
  std::vector<int32_t> cur;
  for (size_t i = 0; i <= ex.ids.size(); ++i) {
    if (i < ex.ids.size() && ex.target[i]) {
      cur.push_back(ex.ids[i]);
    } else if (!cur.empty()) {
      runs.push_back(tok->decode(cur, false));
      cur.clear();
    }
  }
  // The first answer is followed by the next header: its last token "><" reaches into it; the last
  // answer ends the text.
  EXPECT_EQ(runs, (std::vector<std::string>{"Hello!<|eot_id|><", "See you.<|eot_id|>"}));
}
