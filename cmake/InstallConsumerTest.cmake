# cmake -P script behind the `install_consumer` ctest test.
#
# 1. cmake --install <SIMRUN_BUILD_DIR> --prefix <WORK_DIR>/prefix
# 2. configure + build <CONSUMER_SOURCE_DIR> with CMAKE_PREFIX_PATH=<prefix>
# 3. run the consumer; any failure fails the test.
# 4. run the testing kit's consumer (simrun_install_consumer_kit): its tests pass; its skipped,
#    deliberately failing test fails with a replay line, and that line reproduces the failure.
#
# Inputs (-D): SIMRUN_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR CONFIG GENERATOR
#              MAKE_PROGRAM CXX_COMPILER CXX_FLAGS LINKER_FLAGS
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS SIMRUN_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "InstallConsumerTest.cmake: -D${var}=... is required")
    endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(config_args "")
set(build_type_arg "")
if(NOT "${CONFIG}" STREQUAL "")
    set(config_args --config "${CONFIG}")
    set(build_type_arg "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
set(make_program_arg "")
if(NOT "${MAKE_PROGRAM}" STREQUAL "")
    set(make_program_arg "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

message(STATUS "install_consumer: installing ${SIMRUN_BUILD_DIR} into ${prefix}")
execute_process(
    COMMAND "${CMAKE_COMMAND}" --install "${SIMRUN_BUILD_DIR}" --prefix "${prefix}" ${config_args}
    COMMAND_ERROR_IS_FATAL ANY)

message(STATUS "install_consumer: configuring ${CONSUMER_SOURCE_DIR}")
execute_process(
    COMMAND "${CMAKE_COMMAND}"
        -S "${CONSUMER_SOURCE_DIR}" -B "${build}"
        -G "${GENERATOR}" ${make_program_arg}
        "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
        "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
        "-DCMAKE_PREFIX_PATH=${prefix}"
        -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON
        ${build_type_arg}
    COMMAND_ERROR_IS_FATAL ANY)

message(STATUS "install_consumer: building")
execute_process(
    COMMAND "${CMAKE_COMMAND}" --build "${build}" ${config_args}
    COMMAND_ERROR_IS_FATAL ANY)

# Single-config generators put the exe in ${build}; multi-config in ${build}/<CONFIG>.
set(exe "${build}/simrun_install_consumer")
if(NOT EXISTS "${exe}" AND NOT "${CONFIG}" STREQUAL "")
    set(exe "${build}/${CONFIG}/simrun_install_consumer")
endif()
if(CMAKE_HOST_WIN32)
    string(APPEND exe ".exe")
endif()

message(STATUS "install_consumer: running ${exe}")
execute_process(COMMAND "${exe}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${exe} exited with '${rc}' (expected 0)")
endif()

set(kit "${build}/simrun_install_consumer_kit")
if(NOT EXISTS "${kit}" AND NOT "${CONFIG}" STREQUAL "")
    set(kit "${build}/${CONFIG}/simrun_install_consumer_kit")
endif()
message(STATUS "install_consumer: running ${kit}")
execute_process(COMMAND "${kit}" --no-intro RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${kit} exited with '${rc}' (expected 0)")
endif()

execute_process(
    COMMAND "${kit}" --no-intro --no-skip "-tc=consumer: deliberately fails*"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0 OR NOT out MATCHES "replay: (SIMRUN_SEED=3 [^\n]*)")
    message(FATAL_ERROR "install_consumer: the failing kit test did not print a replay line "
                        "for seed 3:\n${out}")
endif()
set(replay "${CMAKE_MATCH_1}")
message(STATUS "install_consumer: the failing test printed: replay: ${replay}")
execute_process(
    COMMAND sh -c "${replay} --no-intro --no-skip"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0 OR NOT out MATCHES "failed with seed 3 \\(1 seed run\\)")
    message(FATAL_ERROR "install_consumer: the replay line did not reproduce the failure:\n${out}")
endif()
message(STATUS "install_consumer: the replay line reproduced the failure with seed 3 alone")
message(STATUS "install_consumer: OK")
