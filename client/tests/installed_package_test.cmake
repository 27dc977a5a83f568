# ctest test client_installed_package (cmake -P): installs this build into a
# fresh temporary prefix with `cmake --install`, then configures and builds
# tests/consumer (find_package(OutboundCampaignClient) + OutboundCampaign::client)
# against that prefix only, and runs its binary. Any failing step fails the
# test with the step's output.
#
# Inputs: BUILD_DIR, CONSUMER_DIR, WORK_DIR, GENERATOR, BUILD_TYPE.
foreach(var BUILD_DIR CONSUMER_DIR WORK_DIR GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "installed_package_test: ${var} is not set")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE RelWithDebInfo)
endif()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/consumer-build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs a command; stops the test with its output when it fails.
function(step name)
  message(STATUS "[${name}] ${ARGN}")
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${name}] failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

step(install ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# The package, the client header and the generated protos are installed.
file(GLOB_RECURSE config_files ${prefix}/*/OutboundCampaignClientConfig.cmake)
file(GLOB_RECURSE grpc_headers ${prefix}/include/outbound/v1/*.grpc.pb.h)
foreach(expected
    ${prefix}/include/outbound_campaign/client.h
    ${prefix}/include/outbound/v1/campaign_service.pb.h
    ${prefix}/include/outbound/v1/campaign_service.grpc.pb.h
    ${prefix}/include/outbound/v1/resources.pb.h)
  if(NOT EXISTS ${expected})
    message(FATAL_ERROR "not installed: ${expected}")
  endif()
endforeach()
if(NOT config_files)
  message(FATAL_ERROR "no OutboundCampaignClientConfig.cmake under ${prefix}")
endif()
# Only the client is installed, never the server.
file(GLOB_RECURSE server_files ${prefix}/*campaignd*)
if(server_files)
  message(FATAL_ERROR "server files installed: ${server_files}")
endif()

step(configure ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${consumer_build} -G ${GENERATOR}
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
# The package came from the temporary prefix, not from anywhere else.
file(STRINGS ${consumer_build}/CMakeCache.txt package_dir REGEX "^OutboundCampaignClient_DIR:")
string(FIND "${package_dir}" "${prefix}/" at)
if(NOT at GREATER -1)
  message(FATAL_ERROR "the consumer found the package elsewhere: ${package_dir}")
endif()

step(build ${CMAKE_COMMAND} --build ${consumer_build})
# Nothing listens on port 1: the consumer expects the call to fail cleanly.
step(run ${consumer_build}/consumer 127.0.0.1:1)
message(STATUS "consumer output:\n${step_output}")
file(REMOVE_RECURSE ${WORK_DIR})
