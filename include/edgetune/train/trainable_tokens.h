// adapters.trainable_tokens: which embedding rows train (adapt/adapters.h, token rows).
//
// Each entry of the recipe's list is a token id ("504"), a token piece as the vocabulary spells it
// ("<", "<0x5F>") or `auto`: the tokens the training data targets whose embedding row the base
// never made its own, found from the weights alone. A pretrained model's rows for tokens it never
// saw collapse onto one shared direction (they only ever received the same push away from the
// data); a target row whose cosine with another token's row is at least kIndistinctCosine is
// such a row: a tied head then scores those tokens alike whatever the hidden state, so no layer
// adapter can make the model write one and not the other.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "edgetune/data/examples.h"

namespace et {

class Tokenizer;
namespace model {
struct Model;
}

constexpr double kIndistinctCosine = 0.99;

// The target tokens of `examples` whose embedding row has cosine >= min_cosine with the row of
// another token (sorted ids).
std::vector<int64_t> indistinct_target_tokens(const model::Model& model, const std::vector<TokenizedExample>& examples,
                                              double min_cosine = kIndistinctCosine);

// The recipe's list as sorted distinct ids; an entry that is neither a valid id, a piece of the
// vocabulary nor `auto` is an error naming it.
std::vector<int64_t> resolve_trainable_tokens(const std::vector<std::string>& spec, const model::Model& model,
                                              const Tokenizer& tok, const std::vector<TokenizedExample>& examples);

}  // namespace et
