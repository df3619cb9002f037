// Reading trajectory JSONL: both forms parse into the expected messages; every kind of malformed
// line is reported with file:line and skipped (data.on_error: skip) or stops the load (fail).
#include <gtest/gtest.h>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/data/trajectory.h"
#include "test_util.h"

using namespace et;

namespace {

std::string write_jsonl(const std::vector<std::string>& lines) {
  const std::string path = path_join(test::temp_dir("traj"), "data.jsonl");
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  write_file_atomic(path, text);
  return path;
}

const char* kGoodChat =
    R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})";
const char* kGoodReact =
    R"({"question": "2+2?", "trajectory": "Thought: add\nAction: calc\nAction Input: {\"x\": 4}\nObservation: 4\nFinal Answer: 4"})";

}  // namespace

TEST(Trajectory, ChatFormParses) {
  Conversation c = parse_trajectory(
      R"({"tools": [{"type": "function", "function": {"name": "f"}}], "messages": [)"
      R"({"role": "developer", "content": "sys"}, {"role": "human", "content": [{"type": "text", "text": "a"}, "b"]}, )"
      R"({"role": "gpt", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "{\"k\": [1, 2]}"}}, )"
      R"({"name": "g", "arguments": {"z": true}}]}, {"role": "ipython", "name": "f", "content": {"r": 1}}, )"
      R"({"role": "model", "content": "done"}]})",
      "auto", "f.jsonl:3");
  EXPECT_FALSE(c.react);
  EXPECT_EQ(c.source, "f.jsonl:3");
  ASSERT_EQ(c.tools.size(), 1u);
  ASSERT_EQ(c.messages.size(), 5u);
  EXPECT_EQ(c.messages[0].role, Role::system);
  EXPECT_EQ(c.messages[1].role, Role::user);
  EXPECT_EQ(c.messages[1].content, "ab");
  EXPECT_EQ(c.messages[2].role, Role::assistant);
  EXPECT_EQ(c.messages[2].content, "");
  ASSERT_EQ(c.messages[2].tool_calls.size(), 2u);
  EXPECT_EQ(c.messages[2].tool_calls[0].name, "f");
  EXPECT_EQ(c.messages[2].tool_calls[0].arguments.dump(), R"({"k":[1,2]})");
  EXPECT_EQ(c.messages[2].tool_calls[1].name, "g");
  EXPECT_EQ(c.messages[2].tool_calls[1].arguments.dump(), R"({"z":true})");
  EXPECT_EQ(c.messages[3].role, Role::tool);
  EXPECT_EQ(c.messages[3].name, "f");
  EXPECT_EQ(c.messages[3].content, R"({"r":1})");
  EXPECT_EQ(c.messages[4].content, "done");
}

TEST(Trajectory, ReactFormParsesIntoSteps) {
  Conversation c = parse_trajectory(
      R"({"system": "S", "input": "Q?", "react": "Thought: one\nAction: look\nAction Input: {\"a\": 1}\n)"
      R"(Observation: line 1\nline 2\nThought: two\nAction: look\nAction Input: {}\nObservation: x\n)"
      R"(Thought: three\nFinal Answer: yes"})",
      "auto", "r.jsonl:1");
  EXPECT_TRUE(c.react);
  ASSERT_EQ(c.messages.size(), 7u);
  EXPECT_EQ(c.messages[0].role, Role::system);
  EXPECT_EQ(c.messages[1].role, Role::user);
  EXPECT_EQ(c.messages[1].content, "Q?");
  EXPECT_EQ(c.messages[2].role, Role::assistant);
  EXPECT_EQ(c.messages[2].content, "Thought: one\nAction: look\nAction Input: {\"a\": 1}");
  EXPECT_EQ(c.messages[3].role, Role::tool);
  EXPECT_EQ(c.messages[3].content, "line 1\nline 2");
  EXPECT_EQ(c.messages[4].content, "Thought: two\nAction: look\nAction Input: {}");
  EXPECT_EQ(c.messages[5].content, "x");
  EXPECT_EQ(c.messages[6].role, Role::assistant);
  EXPECT_EQ(c.messages[6].content, "Thought: three\nFinal Answer: yes");
}

// Each malformed line, and the words its error must contain besides file:line.
TEST(Trajectory, MalformedLinesNameFileAndLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{\"messages\": [", "not valid JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"messages": [{"role": "user", "content": "only a question"}]})", "no assistant"},
      {R"({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]})", "robot"},
      {R"({"messages": [{"role": "user", "content": "x", "tool_calls": [{"function": {"name": "f"}}]}, {"role": "assistant", "content": "y"}]})",
       "tool_calls"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]})",
       "not valid JSON"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]})", "neither content nor tool calls"},
      {R"({"question": "q", "trajectory": "Thought: t\nObservation: o"})", "Observation without an Action"},
      {R"({"question": "q", "trajectory": "Action: f\nObservation: o"})", "Action Input"},
      {R"({"question": "q", "trajectory": "Action: f\nAction: g\nAction Input: {}"})", "two Actions"},
      {R"({"trajectory": "Final Answer: x"})", "question"},
      {R"({"text": 5, "prompt": "x"})", "neither"},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(bad[i].first);
    // The bad line is line 3, after a good line and an empty line.
    const std::string path = write_jsonl({kGoodChat, "", bad[i].first, kGoodReact});
    try {
      load_trajectories(path, "auto", "fail");
      ADD_FAILURE() << "accepted a malformed line";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path + ":3"), std::string::npos) << msg;
      EXPECT_NE(msg.find(bad[i].second), std::string::npos) << msg;
    }
    // skip: the good lines load, the bad one is reported on stderr with file:line.
    TrajectoryLoadReport rep;
    testing::internal::CaptureStderr();
    auto convs = load_trajectories(path, "auto", "skip", &rep);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(convs.size(), 2u);
    EXPECT_EQ(rep.lines, 3);
    EXPECT_EQ(rep.loaded, 2);
    EXPECT_EQ(rep.skipped, 1);
    EXPECT_NE(err.find(path + ":3"), std::string::npos) << err;
    EXPECT_EQ(convs[0].source, path + ":1");
    EXPECT_EQ(convs[1].source, path + ":4");
  }
}

TEST(Trajectory, FormatSwitchAndMissingFile) {
  const std::string path = write_jsonl({kGoodChat, kGoodReact});
  // Forced chat: the ReAct line (line 2) is malformed for it.
  try {
    load_trajectories(path, "chat", "fail");
    ADD_FAILURE() << "a ReAct line passed as chat";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2"), std::string::npos) << e.what();
  }
  TrajectoryLoadReport rep;
  testing::internal::CaptureStderr();
  auto react = load_trajectories(path, "react", "skip", &rep);
  testing::internal::GetCapturedStderr();
  ASSERT_EQ(react.size(), 1u);
  EXPECT_TRUE(react[0].react);
  EXPECT_EQ(rep.skipped, 1);
  try {
    load_trajectories(path + ".absent", "auto", "skip");
    ADD_FAILURE() << "a missing file loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ".absent"), std::string::npos) << e.what();
  }
}
