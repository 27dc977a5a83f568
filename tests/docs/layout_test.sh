#!/usr/bin/env bash
# Checks that the README's "Layout" section matches the tree:
#   1. every folder it names exists;
#   2. every folder of server/ and every top-level folder of the repository
#      (but hidden ones and build trees) is named;
#   3. every server/ library links only the folders its line allows after
#      "→" (or, for "everything above", any folder named above it), read
#      from the target_link_libraries of its CMakeLists.txt.
# Usage: layout_test.sh REPOSITORY_ROOT
set -euo pipefail

root=${1:?usage: layout_test.sh REPOSITORY_ROOT}
cd "$root"

# The fenced block after "## Layout".
block=$(awk '/^## Layout/ {in_section = 1; next}
             in_section && /^## / {exit}
             in_section && /^```/ {if (fenced) exit; fenced = 1; next}
             fenced {print}' README.md)
[[ -n $block ]] || { echo "README.md has no fenced block under '## Layout'"; exit 1; }

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Entries: "name/" at column 0 (top level) or column 2 (under server/), the
# text up to the next entry is its description.
declare -A described=()
order=()
current=""
while IFS= read -r line; do
  if [[ $line =~ ^([a-z_./0-9]+/)[[:space:]] || $line =~ ^([a-z_./0-9]+/)$ ]]; then
    current=${BASH_REMATCH[1]%/}
  elif [[ $line =~ ^"  "([a-z_/0-9]+/)[[:space:]] || $line =~ ^"  "([a-z_/0-9]+/)$ ]]; then
    current=server/${BASH_REMATCH[1]%/}
  fi
  [[ -n $current ]] || continue
  if [[ -z ${described[$current]+set} ]]; then
    described[$current]=""
    order+=("$current")
  fi
  described[$current]+=" $line"
done <<<"$block"

# 1. Every named folder exists.
for dir in "${order[@]}"; do
  [[ -d $dir ]] || fail "README Layout names $dir/, which does not exist"
done

# 2. Every folder is named.
for dir in server/*/ */; do
  dir=${dir%/}
  case $dir in build* | node_modules) continue ;; esac
  named=""
  for entry in "${order[@]}"; do
    [[ $entry == "$dir" || $entry == "$dir"/* ]] && named=1
  done
  [[ -n $named ]] || fail "$dir/ is missing from the README Layout section"
done

# 3. Dependencies of each server/ library.
declare -A library_folder=()
for cmake in server/*/CMakeLists.txt; do
  folder=$(basename "$(dirname "$cmake")")
  while read -r library; do library_folder[$library]=$folder; done < <(
    grep -o 'add_library(campaign_[a-z_]*' "$cmake" | sed 's/add_library(//')
done

above=()
for dir in "${order[@]}"; do
  [[ $dir == server/* && $dir != server/*/* ]] || continue
  folder=${dir#server/}
  text=${described[$dir]}
  if [[ $text != *"→"* ]]; then
    fail "README Layout: server/$folder/ says nothing after → about what it may depend on"
    above+=("$folder")
    continue
  fi
  rule=${text#*→}
  allowed=()
  if [[ $rule == *"everything above"* ]]; then
    allowed=("${above[@]}")
  else
    for other in "${above[@]}"; do
      [[ $rule =~ (^|[^a-z_])$other([^a-z_]|$) ]] && allowed+=("$other")
    done
    for other in "${order[@]}"; do
      other=${other#server/}
      if [[ $rule =~ (^|[^a-z_])$other([^a-z_]|$) && " ${above[*]} " != *" $other "* &&
            $other != "$folder" && -d server/$other ]]; then
        fail "README Layout: server/$folder/ may depend on $other/, which is listed below it"
      fi
    done
  fi
  # What the folder's libraries link (campaign_* names in target_link_libraries).
  linked=$(awk '/target_link_libraries\(campaign_/ {on = 1}
                on {print} on && /\)/ {on = 0}' "server/$folder/CMakeLists.txt" |
             grep -o 'campaign_[a-z_]*' | sort -u)
  for library in $linked; do
    target=${library_folder[$library]:-}
    [[ -n $target && $target != "$folder" ]] || continue
    if [[ " ${allowed[*]} " != *" $target "* ]]; then
      fail "server/$folder/ links $library (server/$target/), which its README Layout line does not allow"
    fi
  done
  above+=("$folder")
done

if ((failures > 0)); then
  echo "$failures problem(s): update the Layout section of README.md (or the dependency)."
  exit 1
fi
echo "README Layout matches the tree: ${#order[@]} folders, dependencies of ${#above[@]} server libraries checked"
