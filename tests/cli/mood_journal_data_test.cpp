// data/make_mood_journal.py: the Mood Journal files load with the trajectory reader, each entry is
// answered by one log_mood call with values from the schema; the held-out label triples never
// occur in training; the same seed writes the same bytes; and the labels follow the habits the
// script promises: where the base reads "buzzing" as excited and "the lab" as study, the user's
// entries mean anxious and work, and the user's "battery N%" is low under 35 and high from 70.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <set>
#include <tuple>

#include "edgetune/core/file_io.h"
#include "edgetune/data/trajectory.h"
#include "test_util.h"

using namespace et;

namespace {

using Triple = std::tuple<std::string, std::string, std::string>;

bool generate(const std::string& suite, const std::string& out, int seed) {
  const std::string cmd = "python3 " + path_join(test::source_dir(), "data/make_mood_journal.py") + " --suite " + suite +
                          " --n-train 300 --n-eval 60 --seed " + std::to_string(seed) + " --out " + out + " > /dev/null";
  return std::system(cmd.c_str()) == 0;
}

struct Entry {
  std::string text;
  Triple label;
};

std::vector<Entry> load(const std::string& path) {
  const std::set<std::string> moods = {"happy", "calm", "content", "excited", "sad", "anxious", "stressed", "angry", "tired", "lonely"};
  const std::set<std::string> energies = {"low", "medium", "high"};
  const std::set<std::string> contexts = {"work", "study", "family", "friends", "health", "home", "outdoors", "commute", "rest"};
  std::vector<Entry> out;
  for (const Conversation& c : load_trajectories(path, "chat", "fail")) {
    EXPECT_EQ(c.tools.size(), 1u) << c.source;
    EXPECT_GE(c.messages.size(), 2u) << c.source;
    if (c.messages.size() < 2) continue;
    EXPECT_EQ(c.messages[0].role, Role::user) << c.source;
    EXPECT_EQ(c.messages[1].role, Role::assistant) << c.source;
    EXPECT_EQ(c.messages[1].tool_calls.size(), 1u) << c.source;
    if (c.messages[1].tool_calls.size() != 1) continue;
    const ToolCall& call = c.messages[1].tool_calls[0];
    EXPECT_EQ(call.name, "log_mood") << c.source;
    EXPECT_EQ(call.arguments.size(), 3u) << c.source;
    Entry e{c.messages[0].content,
            {call.arguments.value("mood", ""), call.arguments.value("energy", ""), call.arguments.value("context", "")}};
    EXPECT_TRUE(moods.count(std::get<0>(e.label))) << c.source;
    EXPECT_TRUE(energies.count(std::get<1>(e.label))) << c.source;
    EXPECT_TRUE(contexts.count(std::get<2>(e.label))) << c.source;
    out.push_back(e);
  }
  return out;
}

bool has(const std::string& text, const std::string& word) {
  return std::regex_search(text, std::regex("\\b" + word + "\\b", std::regex::icase));
}

}  // namespace

TEST(MoodJournalData, EntriesLabelsAndHeldOutSplit) {
  if (std::system("python3 -c pass > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 is not installed";
  const std::string dir = test::temp_dir("mood"), again = test::temp_dir("mood-again");
  for (const char* suite : {"base", "personal"}) {
    ASSERT_TRUE(generate(suite, dir, 5)) << suite;
    ASSERT_TRUE(generate(suite, again, 5)) << suite;
  }
  std::map<std::string, std::vector<Entry>> e;
  for (const char* suite : {"base", "personal"})
    for (const char* split : {"train", "eval"}) {
      const std::string name = std::string("mood_") + suite + "_" + split + ".jsonl";
      EXPECT_EQ(read_text_file(path_join(dir, name)), read_text_file(path_join(again, name))) << name << ": same seed, same bytes";
      e[std::string(suite) + "_" + split] = load(path_join(dir, name));
    }
  EXPECT_EQ(e["personal_train"].size(), 300u);
  EXPECT_EQ(e["personal_eval"].size(), 60u);
  for (const char* suite : {"base", "personal"}) {
    std::set<Triple> train;
    for (const auto& x : e[std::string(suite) + "_train"]) train.insert(x.label);
    EXPECT_GT(train.size(), 100u) << "the training entries cover many label triples";
    for (const auto& x : e[std::string(suite) + "_eval"])
      EXPECT_FALSE(train.count(x.label)) << suite << ": held-out triple also in training: " << x.text;
  }
  // The user's words against the everyday ones.
  int checked = 0;
  auto expect_all = [&](const std::string& set, const std::string& word, int slot, const std::string& want) {
    int n = 0;
    for (const auto& x : e[set]) {
      if (!has(x.text, word)) continue;
      ++n;
      const std::string got = slot == 0 ? std::get<0>(x.label) : std::get<2>(x.label);
      EXPECT_EQ(got, want) << set << ": " << x.text;
    }
    EXPECT_GT(n, 0) << set << " has no entry with '" << word << "'";
    checked += n;
  };
  for (const char* split : {"_train", "_eval"}) {
    expect_all(std::string("personal") + split, "buzzing", 0, "anxious");
    expect_all(std::string("personal") + split, "the lab", 2, "work");
    expect_all(std::string("personal") + split, "Jules", 2, "family");
  }
  expect_all("base_train", "buzzing", 0, "excited");
  expect_all("base_train", "the lab", 2, "study");
  // Battery percentages: under 35 low, 70 and up high.
  int batteries = 0;
  for (const auto& x : e["personal_train"]) {
    std::smatch m;
    if (!std::regex_search(x.text, m, std::regex("battery (at )?(\\d+)|(\\d+)% (battery|today)"))) continue;
    const int pct = std::stoi(m[2].matched ? m[2].str() : m[3].str());
    const std::string want = pct < 35 ? "low" : pct < 70 ? "medium" : "high";
    EXPECT_EQ(std::get<1>(x.label), want) << x.text;
    ++batteries;
  }
  EXPECT_GT(batteries, 200) << "most of the user's entries give energy as a battery";
  EXPECT_GT(checked, 20);
}
