// Conversations (system/user/assistant/tool messages with tool calls) and the chat templates of
// each model family. Rendering yields text segments, each marked trainable or not, so the data
// pipeline can put the loss on assistant output only: the assistant's thought, tool calls and
// answer plus the token that ends its turn; never system prompts, user turns, tool results
// (observations) or the template's role headers.
//
// tokenize_chat (data/examples.h) turns the segments into the ids of the whole text, a token being
// a target when it starts in a trainable segment.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace et {

class Tokenizer;

enum class Role { system, user, assistant, tool };
const char* role_name(Role r);

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

struct ChatMessage {
  Role role = Role::user;
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string name;                  // tool only: the tool that answered (optional)
};

struct Conversation {
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();  // JSON schemas
  std::vector<ChatMessage> messages;
  // Came from ReAct text (Thought/Action/Action Input/Observation): the plain template renders it
  // back as a ReAct transcript; chat templates render it as turns.
  bool react = false;
  std::string source;  // "file.jsonl:12", for messages
};

enum class ChatTemplate { plain, llama3, chatml, qwen3, gemma3 };
const char* chat_template_name(ChatTemplate t);
// "plain", "llama3", "chatml", "qwen3", "gemma3"; throws on anything else.
ChatTemplate parse_chat_template(const std::string& name);
// The template a model uses: from its special tokens (<|start_header_id|> -> llama3,
// <|im_start|> -> chatml, or qwen3 for the Qwen3 family, <start_of_turn> -> gemma3), else plain.
ChatTemplate choose_chat_template(const std::string& family, const Tokenizer& tok);

struct ChatSegment {
  std::string text;
  bool trainable = false;
  bool eos_after = false;  // append the tokenizer's EOS id after this text (same trainability)
};

struct RenderedChat {
  bool bos = false;  // prepend the tokenizer's BOS id
  std::vector<ChatSegment> segments;
  std::string text() const;  // all segments joined (EOS not shown)
};

// Renders `conv`. last_turn_only: only the final assistant turn is trainable.
// add_generation_prompt: end with the header that starts an assistant turn (for generation).
// Malformed conversations (e.g. roles that the template cannot express) throw naming conv.source.
RenderedChat render_chat(const Conversation& conv, ChatTemplate tmpl, bool last_turn_only = false,
                         bool add_generation_prompt = false);

// JSON as Python's json.dumps(ensure_ascii=False) writes it (", " and ": " separators; with
// indent >= 0 one item per line), which is what Hugging Face chat templates' tojson produces.
std::string python_json(const nlohmann::ordered_json& j, int indent = -1);

}  // namespace et
