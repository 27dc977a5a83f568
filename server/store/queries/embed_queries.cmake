# Writes a C++ header holding the named queries of server/store/queries/*.sql
# as constants: a file is a sequence of queries, each under a name line
#   -- name: AcquireRuns
# (PascalCase; it becomes campaign::store::sql::kAcquireRuns). A name line
#   -- fragment: RunColumns
# starts a piece of SQL that queries include as {{RunColumns}}; fragments are
# not constants of their own. Whole-line `--` comments and blank lines are
# dropped, as is a trailing `;`. Fails (FATAL_ERROR) on SQL before the first
# name line, a malformed or duplicate name, an empty query, an unknown or
# unused fragment, or a query holding the raw-string delimiter.
# Inputs: SOURCE_DIR (the folder of .sql files), OUTPUT (the header to write).
cmake_minimum_required(VERSION 3.25)
if(NOT SOURCE_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<dir> -DOUTPUT=<header> -P embed_queries.cmake")
endif()
file(GLOB files ${SOURCE_DIR}/*.sql)
list(SORT files)
if(NOT files)
  message(FATAL_ERROR "${SOURCE_DIR}: no .sql files")
endif()

set(names "")       # every query and fragment name seen, for the duplicate check
set(queries "")     # query names in file order
set(fragments "")   # fragment names

# Ends the entry being read (kind/name/body in the caller's scope).
macro(finish_entry)
  if(NOT "${name}" STREQUAL "")
    string(STRIP "${body}" body)
    string(REGEX REPLACE "[ \t\n]*;$" "" body "${body}")
    if(body STREQUAL "")
      message(FATAL_ERROR "${where}: ${kind} ${name} has no SQL")
    endif()
    set(text_${name} "${body}")
    if(kind STREQUAL "query")
      list(APPEND queries ${name})
    else()
      list(APPEND fragments ${name})
    endif()
  endif()
  set(name "")
  set(body "")
endmacro()

foreach(path IN LISTS files)
  get_filename_component(file_name ${path} NAME)
  file(READ ${path} content)
  # Split into lines without CMake's list syntax getting in the way: `;`,
  # `[` and `]` are swapped for placeholders and swapped back per line.
  string(REPLACE ";" "<campaign_semicolon>" content "${content}")
  string(REPLACE "[" "<campaign_open>" content "${content}")
  string(REPLACE "]" "<campaign_close>" content "${content}")
  string(REPLACE "\n" ";" lines "${content}")
  set(kind "")
  set(name "")
  set(body "")
  set(line_number 0)
  foreach(line IN LISTS lines)
    math(EXPR line_number "${line_number} + 1")
    set(where "${file_name}:${line_number}")
    string(REPLACE "<campaign_semicolon>" ";" line "${line}")
    string(REPLACE "<campaign_open>" "[" line "${line}")
    string(REPLACE "<campaign_close>" "]" line "${line}")
    if(line MATCHES "^--[ \t]*(name|fragment)[ \t]*:(.*)$")
      set(new_kind ${CMAKE_MATCH_1})
      string(STRIP "${CMAKE_MATCH_2}" new_name)
      if(NOT new_name MATCHES "^[A-Z][A-Za-z0-9]*$")
        message(FATAL_ERROR "${where}: malformed ${new_kind} \"${new_name}\" "
                            "(expected PascalCase letters and digits, e.g. AcquireRuns)")
      endif()
      if(new_name IN_LIST names)
        message(FATAL_ERROR "${where}: duplicate name ${new_name} (names are unique across "
                            "every .sql file of ${SOURCE_DIR})")
      endif()
      finish_entry()
      list(APPEND names ${new_name})
      if(new_kind STREQUAL "name")
        set(kind query)
      else()
        set(kind fragment)
      endif()
      set(name ${new_name})
    elseif(line MATCHES "^[ \t]*--" OR line MATCHES "^[ \t\r]*$")
      # comment or blank line: documentation, not sent to the server
    elseif("${name}" STREQUAL "")
      message(FATAL_ERROR "${where}: SQL before the first \"-- name: Name\" line")
    else()
      string(APPEND body "${line}\n")
    endif()
  endforeach()
  finish_entry()
endforeach()

if(NOT queries)
  message(FATAL_ERROR "${SOURCE_DIR}: no named queries")
endif()

set(used_fragments "")
set(constants "")
set(table "")
foreach(query IN LISTS queries)
  set(sql "${text_${query}}")
  foreach(fragment IN LISTS fragments)
    string(FIND "${sql}" "{{${fragment}}}" at)
    if(NOT at EQUAL -1)
      list(APPEND used_fragments ${fragment})
      string(REPLACE "{{${fragment}}}" "${text_${fragment}}" sql "${sql}")
    endif()
  endforeach()
  if(sql MATCHES "{{([^}]*)}}")
    message(FATAL_ERROR "query ${query} includes an unknown fragment {{${CMAKE_MATCH_1}}}")
  endif()
  string(FIND "${sql}" ")campaign_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "query ${query} contains the raw string delimiter")
  endif()
  string(APPEND constants "inline constexpr char k${query}[] = R\"campaign_sql(${sql})campaign_sql\";\n\n")
  string(APPEND table "    {\"${query}\", k${query}},\n")
endforeach()
foreach(fragment IN LISTS fragments)
  if(NOT fragment IN_LIST used_fragments)
    message(FATAL_ERROR "fragment ${fragment} is used by no query")
  endif()
endforeach()

set(header "// Generated from server/store/queries/*.sql by embed_queries.cmake. Do not edit.
#ifndef CAMPAIGN_SERVER_STORE_QUERIES_H_
#define CAMPAIGN_SERVER_STORE_QUERIES_H_

namespace campaign::store::sql {

${constants}// One named query.
struct NamedQuery {
  const char* name;
  const char* sql;
};

// Every query above, in file order (for checks that prepare them all).
inline constexpr NamedQuery kAllQueries[] = {
${table}};

}  // namespace campaign::store::sql

#endif  // CAMPAIGN_SERVER_STORE_QUERIES_H_
")
file(WRITE ${OUTPUT} "${header}")
