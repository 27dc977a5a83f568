# Test of embed_queries.cmake (ctest store_embed_queries): well-formed files
# become constants with fragments expanded; every malformed input fails the
# generation with a message naming the problem.
# Inputs: EMBED_SCRIPT (embed_queries.cmake), WORK_DIR (scratch folder).
cmake_minimum_required(VERSION 3.25)
set(failures 0)

# Writes `text` (one argument: SQL holds `;`) as file `file_name` of a case.
function(case_file case_name file_name text)
  file(WRITE ${WORK_DIR}/${case_name}/${file_name} "${text}")
endfunction()

# Runs the embedder on the files of `case_name`, then removes them; sets
# `rc`, `output` (stderr) and `header`.
function(embed case_name)
  set(dir ${WORK_DIR}/${case_name})
  file(MAKE_DIRECTORY ${dir})
  execute_process(
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${dir} -DOUTPUT=${dir}/queries.h -P ${EMBED_SCRIPT}
    RESULT_VARIABLE result ERROR_VARIABLE error OUTPUT_QUIET)
  set(header "")
  if(EXISTS ${dir}/queries.h)
    file(READ ${dir}/queries.h header)
  endif()
  file(REMOVE_RECURSE ${dir})
  set(rc ${result} PARENT_SCOPE)
  set(output "${error}" PARENT_SCOPE)
  set(header "${header}" PARENT_SCOPE)
endfunction()

# Fails the case unless the embedder refused with a message holding
# `expected`; an optional third argument is written as the case's a.sql.
function(expect_refused case_name expected)
  if(ARGC GREATER 2)
    case_file(${case_name} a.sql "${ARGV2}")
  endif()
  embed(${case_name})
  # CMake wraps long error messages (a long build path breaks "no .sql files"
  # across lines): compare with every run of blanks as one space.
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${output}")
  string(FIND "${flat}" "${expected}" at)
  if(rc EQUAL 0 OR at EQUAL -1)
    message(SEND_ERROR "${case_name}: expected a failure saying \"${expected}\", got rc=${rc}: ${output}")
  endif()
endfunction()

# Fails unless `text` contains `part`.
function(expect_contains case_name text part)
  string(FIND "${text}" "${part}" at)
  if(at EQUAL -1)
    message(SEND_ERROR "${case_name}: expected \"${part}\" in:\n${text}")
  endif()
endfunction()

# Well-formed: two files, a fragment, comments, blank lines, `;` and `[]`.
case_file(good a.sql "-- Runs.\n\n-- fragment: Cols\nr.id, r.tags[1] AS tag\n\n-- name: GetRun\n-- Doc comment.\nSELECT {{Cols}}\n  FROM runs r WHERE r.id = $1;\n")
case_file(good b.sql "-- name: Ping\nSELECT ';' AS semi;\n")
embed(good)
if(NOT rc EQUAL 0)
  message(SEND_ERROR "good: generation failed: ${output}")
endif()
expect_contains(good "${header}"
  "inline constexpr char kGetRun[] = R\"campaign_sql(SELECT r.id, r.tags[1] AS tag\n  FROM runs r WHERE r.id = $1)campaign_sql\";")
expect_contains(good "${header}" "inline constexpr char kPing[] = R\"campaign_sql(SELECT ';' AS semi)campaign_sql\";")
expect_contains(good "${header}" "{\"GetRun\", kGetRun},\n    {\"Ping\", kPing},")
string(FIND "${header}" "kCols" at)
if(NOT at EQUAL -1)
  message(SEND_ERROR "good: a fragment became a constant:\n${header}")
endif()

case_file(duplicate a.sql "-- name: GetRun\nSELECT 1;\n")
case_file(duplicate b.sql "-- name: GetRun\nSELECT 2;\n")
expect_refused(duplicate "duplicate name GetRun")
expect_refused(duplicate_fragment "duplicate name Cols"
  "-- fragment: Cols\nid\n-- name: Cols\nSELECT 1;\n")
expect_refused(lower_case "malformed name \"getRun\""
  "-- name: getRun\nSELECT 1;\n")
expect_refused(spaces "malformed name \"Get Run\""
  "-- name: Get Run\nSELECT 1;\n")
expect_refused(empty_name "malformed name \"\""
  "-- name:\nSELECT 1;\n")
expect_refused(unnamed "a.sql:2: SQL before the first"
  "-- Doc.\nSELECT 1;\n-- name: One\nSELECT 1;\n")
expect_refused(empty_query "query Empty has no SQL"
  "-- name: Empty\n-- nothing here\n;\n-- name: One\nSELECT 1;\n")
expect_refused(unknown_fragment "unknown fragment {{Cols}}"
  "-- name: One\nSELECT {{Cols}} FROM runs;\n")
expect_refused(unused_fragment "fragment Cols is used by no query"
  "-- fragment: Cols\nid\n-- name: One\nSELECT 1;\n")
expect_refused(delimiter "contains the raw string delimiter"
  "-- name: One\nSELECT ')campaign_sql\"';\n")
expect_refused(no_files "no .sql files")
